"""Nag policies and the record of every reminder sent."""

from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    or_,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from handoff.departments.hours import hours_of
from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db, kept_for_transaction
from handoff.nagging.rules import Policy

# A policy's settings until the organisation sets its own (escalation "never" is None).
DEFAULTS = {
    "ack_window_minutes": 120,
    "cadence_minutes": 240,
    "escalate_after": 2,
    "org_escalate_after": 4,
    "due_soon_minutes": 240,
    "escalation_email": "",
    "escalation_name": "",
}


class NagPolicy(db.Model):
    """How a department is chased: the window to answer, the cadence of reminders, when they
    escalate. The row without a department is the organisation's default, which also names
    the organisation-wide escalation contact. (When a department works is its own matter:
    handoff.departments.hours.)"""

    __tablename__ = "nag_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), unique=True
    )
    ack_window_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULTS["ack_window_minutes"])
    cadence_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULTS["cadence_minutes"])
    escalate_after: Mapped[int] = mapped_column(Integer, default=DEFAULTS["escalate_after"])
    # None means never; no column default, so that an explicit None is stored as it is.
    org_escalate_after: Mapped[int | None] = mapped_column(Integer)
    due_soon_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULTS["due_soon_minutes"])
    escalation_email: Mapped[str] = mapped_column(String(254), default="")
    escalation_name: Mapped[str] = mapped_column(String(120), default="")

    @classmethod
    def organisation(cls) -> "NagPolicy":
        """The organisation's default policy (unsaved defaults if none was set up); read once
        a transaction."""
        return kept_for_transaction(("policy", None), cls._organisation, unless=(cls,))

    @classmethod
    def _organisation(cls) -> "NagPolicy":
        policy = db.session.scalar(
            db.select(cls).where(cls.department_id.is_(None)).order_by(cls.id).limit(1)
        )
        return policy or cls(department_id=None, **DEFAULTS)

    @classmethod
    def for_department(cls, department_id: int) -> "NagPolicy":
        """The department's own policy, or the organisation's default (one query for both,
        once a transaction)."""
        return kept_for_transaction(
            ("policy", department_id), lambda: cls._for_department(department_id), unless=(cls,)
        )

    @classmethod
    def _for_department(cls, department_id: int) -> "NagPolicy":
        found: dict = {}
        for policy in db.session.scalars(
            db.select(cls)
            .where(or_(cls.department_id == department_id, cls.department_id.is_(None)))
            .order_by(cls.id)
        ):
            found.setdefault(policy.department_id, policy)  # (the first, as organisation())
        # the organisation's was read with it (no row: the defaults): kept for who asks it
        organisation = found.get(None) or cls(department_id=None, **DEFAULTS)
        kept_for_transaction(("policy", None), lambda: organisation, unless=(cls,))
        return found.get(department_id) or organisation


def rules_for(department_id: int | None, now: datetime) -> Policy:
    """The department's policy and working hours as the pure nag rules take them (each read
    once a transaction, without writing the caller's changes first: kept_for_transaction)."""
    policy = NagPolicy.for_department(department_id) if department_id else NagPolicy.organisation()
    return policy_of(policy, hours_of(department_id, now.year))


def policy_of(policy: "NagPolicy", hours) -> Policy:
    """A policy row and the business hours it counts in, as the pure nag rules take them."""
    return Policy(
        hours=hours,
        ack_window=policy.ack_window_minutes,
        cadence=policy.cadence_minutes,
        escalate_after=policy.escalate_after,
        org_escalate_after=policy.org_escalate_after,
        due_soon=policy.due_soon_minutes,
    )


# A partial index's condition, as each database writes it.
WAITING = {
    "sqlite_where": text("mail_after IS NOT NULL"),
    "postgresql_where": text("mail_after IS NOT NULL"),
}


# Rows about a task to tell the customer, a few among the handoffs': their keys index only them.
TASKS = {
    "sqlite_where": text("task_id IS NOT NULL"),
    "postgresql_where": text("task_id IS NOT NULL"),
}


class Nag(db.Model):
    """One reminder (or piece of news) to one recipient. The unique key makes a second insert
    do nothing.

    A nag waits to be mailed while `mail_after` is set: from then on, the next digest to its
    recipient that finds it still true and the recipient in hours (the hours of
    `via_department`, or the organisation's for its escalation contact) carries it. It ends
    mailed (`message_id`) or dropped (`dropped_at`, with the reason), never both.
    """

    __tablename__ = "nag"
    __table_args__ = (
        UniqueConstraint("handoff_id", "series", "number", "recipient_email"),
        Index(
            "uq_nag_task_id", "task_id", "kind", "number", "recipient_email", unique=True, **TASKS
        ),
        # what waits to be mailed: only waiting rows are in these (the rest of history is not)
        Index("ix_nag_mail_after", "mail_after", **WAITING),
        Index("ix_nag_recipient_waiting", "recipient_email", "mail_after", **WAITING),
        Index("ix_nag_recipient_task", "recipient_email", "task_id", **TASKS),
        CheckConstraint("(handoff_id IS NULL) <> (task_id IS NULL)", name="handoff_or_task"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A reminder is about a handoff, or about a task to tell the customer (each looked up
    # through the unique key it leads).
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id"))
    task_id: Mapped[int | None] = mapped_column(ForeignKey("customer_task.id"))
    series: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    recipient_email: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str] = mapped_column(String(120), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # Whose business hours the recipient is reached in; None: the organisation's.
    via_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mail_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drop_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class Mailbox(db.Model):
    """One row per address: the lock that makes one sweep at a time write its digest, and
    what the throttle and the daily cap count."""

    __tablename__ = "mailbox"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day: Mapped[str] = mapped_column(String(10), default="", server_default="")
    digests_that_day: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class NaggerProcess(db.Model):
    """A process that runs rounds (a nagger, or a demo server sweeping in the background),
    and how its last round went: what the health check and the metrics read."""

    __tablename__ = "nagger_process"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_round_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_round_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    last_reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_digests: Mapped[int] = mapped_column(Integer, default=0)
    last_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
