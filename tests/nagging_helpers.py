"""Helpers shared by the nagging tests."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from handoff.departments.hours import DEFAULT_HOURS
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent
from handoff.mail import OutboxMessage
from handoff.nagging.models import DEFAULTS, Nag
from handoff.nagging.policies import save_policy

BERLIN = ZoneInfo("Europe/Berlin")


def berlin(*args) -> datetime:
    """A Berlin wall-clock moment: berlin(2026, 5, 11, 9, 0)."""
    return datetime(*args, tzinfo=BERLIN)


def set_policy(department=None, **changes) -> None:
    """Give the organisation (or a department) its hours and policy; unnamed settings keep the
    defaults."""
    values = {**DEFAULT_HOURS, **DEFAULTS, "escalation_email": "duty@example.com"}
    values["escalation_name"] = "Duty"
    values.update(changes)
    save_policy(department.id if department else None, datetime.now(UTC), **values)
    db.session.commit()


def nags(handoff=None) -> list[Nag]:
    db.session.rollback()
    query = select(Nag).order_by(Nag.created_at, Nag.number, Nag.recipient_email)
    if handoff is not None:
        query = query.where(Nag.handoff_id == handoff.id)
    return list(db.session.scalars(query))


def messages(to: str | None = None) -> list[OutboxMessage]:
    db.session.rollback()
    query = select(OutboxMessage).order_by(OutboxMessage.id)
    if to:
        query = query.where(OutboxMessage.to_address == to)
    return list(db.session.scalars(query))


def nag_events(commitment) -> list[str]:
    db.session.rollback()
    return [
        event.words
        for event in db.session.scalars(
            select(TimelineEvent)
            .where(TimelineEvent.commitment_id == commitment.id, TimelineEvent.kind == "nag")
            .order_by(TimelineEvent.id)
        )
    ]


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(model))


def record_within_promise(org, promise, due_at, at, quantity=None):
    """Sales records a commitment whose one step, to Installation, names a standing promise."""
    from datetime import timedelta

    from handoff.commitments import services
    from handoff.customers.models import Customer

    customer = Customer(name="C", email="c@example.com", phone="1")
    db.session.add(customer)
    step = services.RouteStep(
        org.installation, "Install", due_at, standing_promise=promise, quantity=quantity
    )
    commitment = services.record_commitment(
        actor=org.ana,
        customer=customer,
        title="Router installed",
        details="",
        channel="phone",
        promised_at=due_at + timedelta(days=1),
        owner_department=org.sales,
        route=[step],
        now=at,
    )
    db.session.commit()
    return commitment
