"""Keeping the figures true: the reactions to the domain events that count what happened
(see handoff.reactions), added up in the verb's own transaction and written at its commit
(handoff.kernel.tally).

A handoff's figures go to the week it was handed over, whenever they happen: an answer on
Tuesday to Monday's handoff counts in Monday's week. Only a person's first answer to a
handoff counts as its acknowledgement (a counter rejected and answered again is not a second
one); a standing promise's acceptance is counted apart.
"""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import event as sa_event
from sqlalchemy import select

from handoff.commitments.models import Handoff
from handoff.departments.hours import WorkingHours, hours_of
from handoff.insights.models import (
    AnswerTime,
    DepartmentAnswerTime,
    DepartmentWeek,
    RequestWeek,
    WeekFigures,
)
from handoff.kernel import events
from handoff.kernel.db import db
from handoff.kernel.tally import add_up, before_writing, upsert
from handoff.nagging.models import NagPolicy
from handoff.nagging.rules import Kind

ANSWERS = {"accept", "counter", "decline"}  # the acknowledgements of a pending handoff
REMINDERS = {Kind.ACK.value, Kind.SETTLE.value, Kind.DUE_SOON.value, Kind.LATE.value}
_ZONE = "insights.organisation_zone"
_BY_ID = "insights.by_handoff_id"


def organisation_zone() -> ZoneInfo:
    """The organisation's time zone, in which weeks begin (read once a transaction)."""
    info = db.session.info
    if _ZONE not in info:
        info[_ZONE] = ZoneInfo(WorkingHours.organisation().time_zone)
    return info[_ZONE]


@sa_event.listens_for(db.session, "after_commit")
@sa_event.listens_for(db.session, "after_rollback")
def _forget_zone(session) -> None:
    session.info.pop(_ZONE, None)


@sa_event.listens_for(db.session, "after_transaction_end")
def _forget_counts_by_id(session, transaction) -> None:
    if transaction.parent is None:  # (ended without its commit: the counts go with it)
        session.info.pop(_BY_ID, None)


def same_request(ask: str) -> str:
    """What makes two requests the same: their words, case and spaces aside."""
    return " ".join(ask.casefold().split())[:200]


def week_of(moment: datetime, zone: ZoneInfo) -> date:
    """The Monday of the week `moment` falls in, in `zone`."""
    day = moment.astimezone(zone).date()
    return day - timedelta(days=day.weekday())


def _count(department_id: int, owner_id: int, requested_at: datetime, **amounts: int) -> None:
    week = week_of(requested_at, organisation_zone())
    add_up(DepartmentWeek, {"week": week, "department_id": department_id}, **amounts)
    key = {"week": week, "department_id": department_id, "owner_department_id": owner_id}
    add_up(WeekFigures, key, **amounts)


def _count_handoff(handoff, **amounts: int) -> None:
    _count(handoff.department_id, handoff.owner_department_id, handoff.requested_at, **amounts)


def _count_handoff_id(handoff_id: int, **amounts: int) -> None:
    """Count for the handoff with this id: its department, promiser and week are read for
    all such counts of the transaction at once, at its commit (a round of the sweep counts a
    hundred reminders)."""
    session = db.session()
    session.connection()  # (begun, so that however it ends, its end forgets these)
    held = session.info.setdefault(_BY_ID, {}).setdefault(handoff_id, {})
    for name, amount in amounts.items():
        held[name] = held.get(name, 0) + amount


@before_writing(_BY_ID)
def _count_by_id(session) -> None:
    held = session.info.pop(_BY_ID, None)
    if not held:
        return
    ids = sorted(held)
    for start in range(0, len(ids), 500):
        found = session.execute(
            select(
                Handoff.id, Handoff.department_id, Handoff.owner_department_id, Handoff.requested_at
            ).where(Handoff.id.in_(ids[start : start + 500]))
        )
        for handoff_id, *row in found:
            _count(*row, **held[handoff_id])


def handed_over(event: events.HandoffRequested) -> None:
    db.session.flush()  # (the handoff has its id and times)
    _count_handoff(event.handoff, handoffs=1)


def answered(event: events.HandoffAnswered) -> None:
    handoff = event.handoff
    first = handoff.answered_at is None  # (the answer is stamped after this reaction)
    if event.action in ANSWERS and event.from_state == "pending" and not event.by_promise and first:
        _acknowledged(handoff, event.action, event.at)
    if event.action == "decline":
        _count_handoff(handoff, declined=1)
    elif event.action == "counter":
        _count_handoff(handoff, countered=1)
    elif event.action == "complete":
        on_time = event.at <= handoff.due_at
        _count_handoff(handoff, **{"done_on_time" if on_time else "done_late": 1})


def answer_minutes(handoff, at: datetime) -> int:
    """Business minutes from the handover to `at`, in the department's hours, rounded down."""
    hours = hours_of(handoff.department_id, handoff.requested_at.year)
    return int(hours.minutes_between(handoff.requested_at, at))


def _acknowledged(handoff, action: str, at: datetime) -> None:
    minutes = answer_minutes(handoff, at)
    window = NagPolicy.for_department(handoff.department_id).ack_window_minutes
    counts = {"answered": 1, "in_window": int(minutes <= window)}
    if action == "accept":
        counts["accepted"] = 1
    _count_handoff(handoff, **counts)
    week = week_of(handoff.requested_at, organisation_zone())
    department = {"week": week, "department_id": handoff.department_id, "minutes": minutes}
    add_up(DepartmentAnswerTime, department, handoffs=1)
    pair = {**department, "owner_department_id": handoff.owner_department_id}
    add_up(AnswerTime, pair, handoffs=1)
    if handoff.standing_promise_id is None:  # (what no promise was asked to cover)
        _count_request(handoff, week, action == "accept", minutes)


def _count_request(handoff, week, accepted: bool, minutes: int) -> None:
    """A request answered by a person, by its words: with the notice it gave, in the
    department's business minutes (as a standing promise's lead time is counted)."""
    hours = hours_of(handoff.department_id, handoff.requested_at.year)
    notice = int(hours.minutes_between(handoff.requested_at, handoff.due_at))
    upsert(
        RequestWeek,
        {
            "week": week,
            "department_id": handoff.department_id,
            "request": same_request(handoff.ask),
        },
        {
            "ask": handoff.ask.strip()[:200],
            "answered": 1,
            "accepted": int(accepted),
            "least_notice": notice if accepted else None,
            "answer_minutes": minutes,
        },
        added=("answered", "accepted", "answer_minutes"),
        least=("least_notice",),
    )


def accepted_by_promise(event: events.AcceptedByStandingPromise) -> None:
    _count_handoff(event.handoff, by_promise=1, accepted=1)


def reminded(event: events.NagRecorded) -> None:
    if event.handoff_id is not None and event.task_id is None and event.kind in REMINDERS:
        _count_handoff_id(event.handoff_id, reminders=1)


def escalated(event: events.Escalated) -> None:
    if event.handoff_id is not None and event.task_id is None:
        _count_handoff_id(event.handoff_id, escalations=1)


def broke(event: events.PromiseBroke) -> None:
    """A break: a task to tell the customer for it, and a late one is counted as late."""
    amounts = {"tasks": 1}
    if event.reason == events.LATE:
        amounts["late"] = 1
    _count_handoff(event.handoff, **amounts)


def told(event: events.CustomerTold) -> None:
    if event.handoff_id is not None and event.in_time:
        _count_handoff_id(event.handoff_id, told_in_time=1)


def feedback(event: events.FeedbackRecorded) -> None:
    for handoff in event.commitment.handoffs:
        if handoff.state != "cancelled":
            _count_handoff(handoff, feedback=1, feedback_score=event.score)
