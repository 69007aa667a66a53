"""The figures counted anew from the record itself: the handoffs, their timelines, the tasks
to tell the customer and the customers' feedback.

Run once when the figures are first made (the migration that adds them), by `flask insights
rebuild`, and by the tests, which compare what the domain events kept up with what the record
says. Business time is counted in each department's hours and window as they are now.
"""

from collections import defaultdict
from zoneinfo import ZoneInfo

from sqlalchemy import delete, insert, select, text

from handoff.commitments.models import Commitment, CustomerFeedback, Handoff
from handoff.departments.hours import DEFAULT_HOURS, WorkingHours
from handoff.insights.models import (
    COUNTERS,
    AnswerTime,
    DepartmentAnswerTime,
    DepartmentWeek,
    RequestWeek,
    WeekFigures,
)
from handoff.insights.rollups import ANSWERS, REMINDERS, same_request, week_of
from handoff.kernel.db import UTCDateTime
from handoff.kernel.timeline import TimelineEvent
from handoff.nagging.models import DEFAULTS, NagPolicy
from handoff.ownership.models import CustomerTask

BREAKS = {"decline", "customer_date_moved"}  # (and late work, from the handoff's own row)


def is_reminder(data: dict) -> bool:
    """A timeline entry's facts (of kind "nag") are a reminder about a handoff the figures
    count (not an escalation, nor news)."""
    return data.get("what") == "reminder" and data.get("reminder") in REMINDERS


def by_standing_promise(data: dict, summary: str) -> bool:
    """An acceptance entry was a standing promise's, at once (older entries say so in words)."""
    return bool(data.get("promise")) or summary.startswith("Accepted by standing promise")


def rebuild(connection) -> dict:
    """Count every figure anew from the record and replace the kept ones; answer the counts
    by (department, promising department, week), as `kept_figures` reads them."""
    if connection.dialect.name == "postgresql":
        # Counting a large record is minutes of work between statements in one transaction:
        # the cut-off for a stalled web request idle in its transaction is not for this one.
        connection.execute(text("SET LOCAL idle_in_transaction_session_timeout = 0"))
    figures, times, requests = count_from_record(connection)
    for model in (AnswerTime, DepartmentAnswerTime, WeekFigures, DepartmentWeek, RequestWeek):
        connection.execute(delete(model))
    request_rows = [
        {"week": w, "department_id": d, "request": r, **values}
        for (w, d, r), values in requests.items()
    ]
    for start in range(0, len(request_rows), 1000):
        connection.execute(insert(RequestWeek), request_rows[start : start + 1000])
    rows = [
        {"department_id": d, "owner_department_id": o, "week": w, **counts}
        for (d, o, w), counts in figures.items()
    ]
    for start in range(0, len(rows), 1000):
        connection.execute(insert(WeekFigures), rows[start : start + 1000])
    weeks = [{"department_id": d, "week": w, **c} for (d, w), c in _by_department(figures).items()]
    for start in range(0, len(weeks), 1000):
        connection.execute(insert(DepartmentWeek), weeks[start : start + 1000])
    answer_rows = [
        {"department_id": d, "owner_department_id": o, "week": w, "minutes": m, "handoffs": n}
        for (d, o, w, m), n in times.items()
    ]
    for start in range(0, len(answer_rows), 1000):
        connection.execute(insert(AnswerTime), answer_rows[start : start + 1000])
    department_rows = [
        {"department_id": d, "week": w, "minutes": m, "handoffs": n}
        for (d, w, m), n in _times_by_department(times).items()
    ]
    for start in range(0, len(department_rows), 1000):
        connection.execute(insert(DepartmentAnswerTime), department_rows[start : start + 1000])
    return figures


def _times_by_department(times: dict) -> dict:
    """A department's answer times in a week: the sum of its counts by promising department."""
    summed: dict[tuple, int] = defaultdict(int)
    for (department_id, _, week, minutes), n in times.items():
        summed[(department_id, week, minutes)] += n
    return dict(summed)


def _by_department(figures: dict) -> dict:
    """A department's week: the sum of its rows by promising department."""
    summed: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    for (department_id, _, week), counts in figures.items():
        total = summed[(department_id, week)]
        for name, value in counts.items():
            total[name] += value
    return dict(summed)


def _aware(value):
    """A datetime as the models hand it back (aware UTC), from a raw row of either database."""
    if value is None or value.tzinfo is not None:
        return value
    return UTCDateTime().process_result_value(value, None)


class _Rules:
    """Each department's hours and acknowledgement window, as they are now."""

    def __init__(self, connection):
        hours = {
            row.department_id: row
            for row in connection.execute(select(WorkingHours.__table__).order_by("id"))
        }
        self.hours_rows = hours
        policies = {
            row.department_id: row
            for row in connection.execute(select(NagPolicy.__table__).order_by("id"))
        }
        organisation = policies.get(None)
        self.default_window = (
            organisation.ack_window_minutes
            if organisation is not None
            else DEFAULTS["ack_window_minutes"]
        )
        self.windows = {d: p.ack_window_minutes for d, p in policies.items() if d is not None}
        organisation_hours = hours.get(None)
        zone = organisation_hours.time_zone if organisation_hours else DEFAULT_HOURS["time_zone"]
        self.zone = ZoneInfo(zone)
        self._made: dict = {}

    def window(self, department_id: int) -> int:
        return self.windows.get(department_id, self.default_window)

    def hours(self, department_id: int, year: int):
        key = (department_id, year)
        if key not in self._made:
            row = self.hours_rows.get(department_id) or self.hours_rows.get(None)
            settings = {f: getattr(row, f) for f in DEFAULT_HOURS} if row else DEFAULT_HOURS
            self._made[key] = WorkingHours(**settings).business_hours(year)
        return self._made[key]


def count_from_record(connection) -> tuple[dict, dict]:
    """Every figure and every first answer's business minutes, counted from the record."""
    rules = _Rules(connection)
    figures: dict[tuple, dict] = defaultdict(lambda: dict.fromkeys(COUNTERS, 0))
    times: dict[tuple, int] = defaultdict(int)
    handoffs = {}
    cancelled = dict(connection.execute(select(Commitment.id, Commitment.cancelled_at)).all())
    for row in connection.execute(
        select(
            Handoff.id,
            Handoff.commitment_id,
            Handoff.department_id,
            Handoff.owner_department_id,
            Handoff.requested_at,
            Handoff.due_at,
            Handoff.state,
            Handoff.late_noted_at,
            Handoff.standing_promise_id,
            Handoff.ask,
        )
    ):
        requested_at = _aware(row.requested_at)
        key = (row.department_id, row.owner_department_id, week_of(requested_at, rules.zone))
        handoffs[row.id] = (key, row, requested_at)
        counts = figures[key]
        counts["handoffs"] += 1
        noted, ended = _aware(row.late_noted_at), _aware(cancelled.get(row.commitment_id))
        if noted is not None and (ended is None or ended > noted):
            counts["late"] += 1
            counts["tasks"] += 1
    first_answer: dict[int, tuple] = {}
    reached: dict[int, str] = {}  # what each handoff's last reminder was about
    requests: dict[tuple, dict] = {}
    for entry in connection.execute(
        select(
            TimelineEvent.handoff_id,
            TimelineEvent.kind,
            TimelineEvent.data,
            TimelineEvent.summary,
            TimelineEvent.created_at,
        )
        .where(
            TimelineEvent.handoff_id.is_not(None),
            TimelineEvent.kind.in_([*ANSWERS, "complete", "nag", "customer_date_moved"]),
        )
        .order_by(TimelineEvent.id)
    ):
        if entry.handoff_id not in handoffs:
            continue
        key, row, requested_at = handoffs[entry.handoff_id]
        counts = figures[key]
        data = entry.data or {}
        at = _aware(entry.created_at)
        if entry.kind == "nag":
            what = data.get("what")
            if what in ("reminder", "tell"):  # (an escalation is written after what reached it)
                reached[entry.handoff_id] = what
            if is_reminder(data):
                counts["reminders"] += 1
            elif what == "escalated" and reached.get(entry.handoff_id) == "reminder":
                counts["escalations"] += 1  # (a task's escalation is the task's, not counted)
            continue
        if entry.kind == "complete":
            counts["done_on_time" if at <= _aware(row.due_at) else "done_late"] += 1
            continue
        if entry.kind in BREAKS:
            counts["tasks"] += 1
        if entry.kind == "customer_date_moved":
            continue
        if entry.kind == "decline":
            counts["declined"] += 1
        elif entry.kind == "counter":
            counts["countered"] += 1
        if by_standing_promise(data, entry.summary):
            counts["by_promise"] += 1
            counts["accepted"] += 1
            first_answer.setdefault(entry.handoff_id, None)
            continue
        if entry.handoff_id in first_answer:
            continue
        first_answer[entry.handoff_id] = (entry.kind, at)
        hours = rules.hours(row.department_id, requested_at.year)
        minutes = int(hours.minutes_between(requested_at, at))
        counts["answered"] += 1
        counts["in_window"] += minutes <= rules.window(row.department_id)
        counts["accepted"] += entry.kind == "accept"
        times[(*key, minutes)] += 1
        if row.standing_promise_id is None:
            accepted = entry.kind == "accept"
            notice = int(hours.minutes_between(requested_at, _aware(row.due_at)))
            request = requests.setdefault(
                (key[2], row.department_id, same_request(row.ask)),
                {
                    "ask": row.ask.strip()[:200],
                    "answered": 0,
                    "accepted": 0,
                    "least_notice": None,
                    "answer_minutes": 0,
                },
            )
            request["answered"] += 1
            request["accepted"] += accepted
            request["answer_minutes"] += minutes
            if accepted:
                least = request["least_notice"]
                request["least_notice"] = notice if least is None else min(least, notice)
    for handoff_id, closed_at, due_at in connection.execute(
        select(CustomerTask.handoff_id, CustomerTask.closed_at, CustomerTask.due_at).where(
            CustomerTask.outcome == "told", CustomerTask.handoff_id.is_not(None)
        )
    ):
        if handoff_id in handoffs and _aware(closed_at) <= _aware(due_at):
            figures[handoffs[handoff_id][0]]["told_in_time"] += 1
    scores = dict(
        connection.execute(select(CustomerFeedback.commitment_id, CustomerFeedback.score)).all()
    )
    for key, row, _ in handoffs.values():
        if row.commitment_id in scores and row.state != "cancelled":
            figures[key]["feedback"] += 1
            figures[key]["feedback_score"] += scores[row.commitment_id]
    return dict(figures), dict(times), requests


def kept_figures(connection) -> tuple[dict, dict]:
    """The figures the domain events kept, as `count_from_record` answers them (rows of
    nothing but zeros left out): by week, answer times, requests."""
    figures = {}
    for row in connection.execute(select(WeekFigures.__table__)):
        counts = {name: getattr(row, name) for name in COUNTERS}
        if any(counts.values()):
            figures[(row.department_id, row.owner_department_id, row.week)] = counts
    times = {
        (r.department_id, r.owner_department_id, r.week, r.minutes): r.handoffs
        for r in connection.execute(select(AnswerTime.__table__))
        if r.handoffs
    }
    requests = {
        (r.week, r.department_id, r.request): {
            "ask": r.ask,
            "answered": r.answered,
            "accepted": r.accepted,
            "least_notice": r.least_notice,
            "answer_minutes": r.answer_minutes,
        }
        for r in connection.execute(select(RequestWeek.__table__))
    }
    return figures, times, requests


def kept_department_weeks(connection) -> dict:
    """The departments' weeks as kept (rows of nothing but zeros left out)."""
    weeks = {}
    for row in connection.execute(select(DepartmentWeek.__table__)):
        counts = {name: getattr(row, name) for name in COUNTERS}
        if any(counts.values()):
            weeks[(row.department_id, row.week)] = counts
    return weeks


def kept_department_times(connection) -> dict:
    """The departments' answer times as kept, by (department, week, minutes) (zeros left out)."""
    return {
        (r.department_id, r.week, r.minutes): r.handoffs
        for r in connection.execute(select(DepartmentAnswerTime.__table__))
        if r.handoffs
    }
