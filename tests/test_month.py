"""The judged walk: simulated traffic through sweep() on a stepped clock, every reminder checked.

`python bench/month.py` runs the whole month; here two shorter stretches, each over
a DST change, keep the suite fast. The rules checked are listed in bench/month.py.
"""

from datetime import UTC, datetime, timedelta
from email.utils import make_msgid

import pytest
from month import SimulationResult, check, simulate
from sqlalchemy import select

from handoff.commitments.models import Handoff
from handoff.departments.hours import WorkingHours
from handoff.departments.models import Membership
from handoff.kernel.db import db
from handoff.mail import OutboxMessage
from handoff.nagging.models import Nag
from handoff.ownership.models import CustomerTask


@pytest.mark.parametrize(
    "start",
    [
        datetime(2026, 3, 5, tzinfo=UTC),  # over the US change on 8 March
        datetime(2026, 3, 26, tzinfo=UTC),  # over the European change on 29 March
    ],
    ids=["us-dst", "eu-dst"],
)
def test_a_stretch_of_simulated_traffic_keeps_every_nagging_rule(app, start):
    result = simulate(days=5, start=start, seed=start.day)
    assert result.commitments > 50 and result.reminders > 300
    assert result.by_kind["ack"] and result.by_kind["settle"] and result.by_kind["late"]
    assert result.escalated > 10
    assert result.tasks > 10 and result.by_kind["tell"] > result.tasks
    assert dict(result.violations) == {}


def recheck(recorded) -> dict:
    """The checks again, over the rows as they are now (planted faults flushed, not committed)."""
    db.session.flush()
    result = SimulationResult()
    check(result, 15, *recorded)
    db.session.rollback()
    return result.violations


def carried(kind: str) -> list:
    """The reminders of `kind` that left in a digest, with their message."""
    rows = db.session.execute(
        select(Nag, OutboxMessage)
        .join(OutboxMessage, OutboxMessage.id == Nag.message_id)
        .where(Nag.kind == kind)
        .order_by(Nag.id)
    ).all()
    assert rows, f"the recorded stretch has no {kind} reminder in a digest"
    return rows


def test_the_mail_checks_report_each_fault_planted_into_a_recorded_stretch(app):
    start = datetime(2026, 3, 9, tzinfo=UTC)
    result = simulate(days=2, start=start, seed=3, per_day=24, rule_off_from=1, due_hours=(3, 30))
    assert dict(result.violations) == {}
    recorded = (start, start + timedelta(days=2))

    # two digests to one address from one round
    _, message = carried("ack")[0]
    db.session.add(planted_copy(message, at=message.created_at))
    assert "one mail per round" in recheck(recorded)

    # a digest that left after its recipient's hours closed
    nag, message = next((n, m) for n, m in carried("ack") if n.via_department_id in working_hours())
    hours = working_hours()[nag.via_department_id]
    moment = message.created_at
    while hours.is_open(moment):
        moment += timedelta(minutes=15)
    message.created_at = moment
    assert "mail in hours" in recheck(recorded)

    # a digest about a handoff answered before it left
    nag, message = next(
        (n, m)
        for n, m in carried("ack")
        if db.session.get(Handoff, n.handoff_id).state != "pending"
    )
    message.created_at = db.session.get(Handoff, nag.handoff_id).changed_at + timedelta(minutes=1)
    assert "true when it left" in recheck(recorded)

    # a digest telling to tell a customer who was told before it left
    nag, message = next((n, m) for n, m in carried("tell") if n.number > 0)
    task = db.session.get(CustomerTask, nag.task_id)
    task.closed_at, task.outcome = message.created_at - timedelta(minutes=1), "told"
    assert "true when it left" in recheck(recorded)
    # ... while a task passed on by the other sweep of the very same round is no such case
    task = db.session.get(CustomerTask, nag.task_id)
    task.closed_at, task.outcome = message.created_at, "passed_on"
    assert "true when it left" not in recheck(recorded)
    task = db.session.get(CustomerTask, nag.task_id)
    task.closed_at, task.outcome = message.created_at, "told"
    assert "true when it left" in recheck(recorded)

    # a customer owner never told of late work (the rule off)
    owners = {
        (t.handoff_id, t.department_id)
        for t in db.session.scalars(select(CustomerTask).where(CustomerTask.reason == "late"))
    }
    told = [n for n, _ in carried("late") if (n.handoff_id, n.via_department_id) in owners]
    assert told, "the recorded stretch has no late notice to a customer owner"
    for nag in told:
        nag.message_id = None
    assert "owner told" in recheck(recorded)
    for nag in told:  # ... or held back for longer than any morning or weekend
        nag.message_id, nag.mail_after = None, recorded[1] + timedelta(days=30)
    assert "owner told" in recheck(recorded)
    for nag in told:  # while one held for the next morning is on its way
        nag.message_id, nag.mail_after = None, recorded[1] + timedelta(hours=10)
    assert "owner told" not in recheck(recorded)
    # ... and one held back by the daily cap (then dropped by the answer) was right to wait,
    # while with a cap the address never reached, it was not
    for cap, reported in ((2, False), (10_000, True)):
        app.config["DIGEST_DAILY_CAP"] = cap
        late = [(n, m) for n, m in carried("late") if (n.handoff_id, n.via_department_id) in owners]
        pairs = {(n.handoff_id, n.via_department_id) for n, _ in late}
        for nag, _ in late:
            nag.message_id = None
        # every late notice about those handoffs that did not leave (now these, and any one a
        # race of the two sweeps had dropped or kept waiting) came after two digests to its
        # address earlier that day
        for nag in db.session.scalars(select(Nag).where(Nag.kind == "late")):
            if (nag.handoff_id, nag.via_department_id) in pairs and nag.message_id is None:
                for minutes in (1, 2):
                    db.session.add(
                        planted_mail(
                            nag.recipient_email, nag.created_at - timedelta(minutes=minutes)
                        )
                    )
        assert ("owner told" in recheck(recorded)) == reported, cap

    # a hand-over notice that never left, then one that left twice
    nag, message = carried("handover")[0]
    nag.message_id = None
    assert "handed over once" in recheck(recorded)
    nag, message = carried("handover")[0]
    twin = planted_copy(message, at=message.created_at + timedelta(hours=1))
    db.session.add(twin)
    db.session.flush()
    db.session.add(
        Nag(
            task_id=nag.task_id,
            series=0,
            number=1,
            kind="handover",
            level=0,
            recipient_email=nag.recipient_email,
            via_department_id=nag.via_department_id,
            created_at=twin.created_at,
            message_id=twin.id,
        )
    )
    assert "handed over once" in recheck(recorded)
    assert dict(recheck(recorded)) == {}  # and with every plant rolled back, all is well


def planted_copy(message: OutboxMessage, at: datetime) -> OutboxMessage:
    return planted_mail(message.to_address, at)


def planted_mail(address: str, at: datetime) -> OutboxMessage:
    return OutboxMessage(
        message_id=make_msgid(domain="planted.test"),
        to_address=address,
        subject="planted",
        body_text="",
        body_html="planted",
        next_attempt_at=at,
        created_at=at,
    )


def working_hours() -> dict:
    """The business hours of the departments that close at night."""
    rows = db.session.scalars(select(WorkingHours).where(WorkingHours.department_id.is_not(None)))
    return {h.department_id: h.business_hours(2026) for h in rows if not h.always_open}


@pytest.fixture
def recorded_stretch(app):
    """Two simulated days, checked clean, to plant faults into."""
    start = datetime(2026, 3, 9, tzinfo=UTC)
    result = simulate(days=2, start=start, seed=5, per_day=24, due_hours=(3, 30))
    assert dict(result.violations) == {}
    return start, start + timedelta(days=2)


def acks() -> list[Nag]:
    return list(db.session.scalars(select(Nag).where(Nag.kind == "ack").order_by(Nag.id)))


def test_the_reminder_checks_report_each_fault_planted_into_a_recorded_stretch(recorded_stretch):
    office = working_hours()

    # a reminder outside the chased department's hours
    nag = next(n for n in acks() if n.via_department_id in office)
    moment = nag.created_at
    while office[nag.via_department_id].is_open(moment):
        moment += timedelta(minutes=15)
    nag.created_at = moment
    assert "in hours" in recheck(recorded_stretch)

    # a reminder after the handoff was answered
    nag = next(n for n in acks() if db.session.get(Handoff, n.handoff_id).state != "pending")
    nag.created_at = db.session.get(Handoff, nag.handoff_id).changed_at + timedelta(minutes=1)
    assert "right state" in recheck(recorded_stretch)

    # the same reminder twice to one person at one moment
    nag = acks()[0]
    db.session.add(
        Nag(
            handoff_id=nag.handoff_id,
            series=nag.series,
            number=nag.number + 100,
            kind=nag.kind,
            level=nag.level,
            recipient_email=nag.recipient_email,
            via_department_id=nag.via_department_id,
            created_at=nag.created_at,
        )
    )
    assert any("twice to" in problem for problem in recheck(recorded_stretch)["once"])

    # a reminder numbered out of its series
    nag = acks()[0]
    nag.number += 100
    assert any("numbers" in problem for problem in recheck(recorded_stretch)["once"])

    # a reminder that should have escalated and did not
    nag = next(n for n in acks() if n.level > 0)
    nag.level = 0
    assert any("at level 0, not" in p for p in recheck(recorded_stretch)["escalation"])

    # an escalated reminder that reached the members and not the leads
    leads = {
        m.person.email
        for m in db.session.scalars(select(Membership).where(Membership.role == "lead"))
    }
    nag = next(n for n in acks() if n.level > 0 and n.recipient_email in leads)
    db.session.delete(nag)
    assert any("missed leads" in p for p in recheck(recorded_stretch)["escalation"])

    assert dict(recheck(recorded_stretch)) == {}  # every plant rolled back: all is well
