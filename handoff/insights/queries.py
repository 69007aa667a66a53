"""Reading the figures: a few aggregate queries over the kept weeks, whatever the number of
commitments behind them (a row per department, promising department and week; a row per
minute that first answers took)."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import func, select

from handoff.departments.models import Department
from handoff.insights.models import (
    COUNTERS,
    AnswerTime,
    DepartmentAnswerTime,
    DepartmentWeek,
    WeekFigures,
)
from handoff.insights.rebuild import by_standing_promise, is_reminder
from handoff.insights.rollups import ANSWERS
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent


@dataclass
class Figures:
    """One department's (or one pair's) figures over some weeks: the counts, and the
    business minutes of each first answer, as (minutes, how many) in order."""

    counts: dict = field(default_factory=lambda: dict.fromkeys(COUNTERS, 0))
    answer_minutes: list = field(default_factory=list)

    def percentile(self, share: float) -> int | None:
        """The first answer time that `share` of first answers took at most (exact: the
        nearest-rank percentile, a minute being the unit); None with no answers."""
        total = sum(n for _, n in self.answer_minutes)
        if not total:
            return None
        return self._nth(max(1, -(-int(share * total * 1000) // 1000)))  # ceil(share × total)

    def _nth(self, rank: int) -> int:
        """The answer time at `rank` (from 1) in order."""
        seen = 0
        for minutes, n in self.answer_minutes:
            seen += n
            if seen >= rank:
                return minutes
        return self.answer_minutes[-1][0]

    @property
    def median(self) -> int | None:
        """The middle answer time; of an even number, halfway between the two middle ones
        (rounded down to the minute, as each answer time is). None with no answers."""
        total = sum(n for _, n in self.answer_minutes)
        if not total:
            return None
        if total % 2:
            return self._nth(total // 2 + 1)
        return (self._nth(total // 2) + self._nth(total // 2 + 1)) // 2

    @property
    def p90(self) -> int | None:
        return self.percentile(0.9)

    def share(self, part: str, whole: str) -> float | None:
        """counts[part] / counts[whole], None when there is no whole."""
        return self.counts[part] / self.counts[whole] if self.counts[whole] else None

    def per(self, part: str, whole: str = "handoffs") -> float | None:
        return self.share(part, whole)

    @property
    def on_time_share(self) -> float | None:
        """Of the work marked done, the share done by its due time."""
        done = self.counts["done_on_time"] + self.counts["done_late"]
        return self.counts["done_on_time"] / done if done else None

    @property
    def feedback_average(self) -> float | None:
        return self.share("feedback_score", "feedback")


def weeks_between(first: date, last: date) -> list[date]:
    """The Mondays from `first`'s week to `last`'s."""
    monday = first - timedelta(days=first.weekday())
    weeks = []
    while monday <= last:
        weeks.append(monday)
        monday += timedelta(days=7)
    return weeks


def _within(model, query, first: date, last: date, department_ids, owner_ids):
    query = query.where(model.week >= first, model.week <= last)
    if department_ids:
        query = query.where(model.department_id.in_(department_ids))
    if owner_ids:
        query = query.where(model.owner_department_id.in_(owner_ids))
    return query


def figures_by(
    group,
    first: date,
    last: date,
    department_ids=None,
    owner_ids=None,
    times: bool = True,
    counters: tuple = COUNTERS,
) -> dict[tuple, Figures]:
    """The figures of the weeks from `first` to `last` (Mondays), grouped by the columns in
    `group` (of WeekFigures and AnswerTime alike: department, promising department, week),
    of the departments and promising departments named (all, if none are); with the answer
    times unless `times` is false (a median costs more than the counts), and only the
    `counters` named (the others 0: each one summed costs)."""
    found: dict[tuple, Figures] = defaultdict(Figures)
    # a department's weeks (and its answer times) are read from its own rows; pairs from the
    # rows by promising side
    by_pair = "owner_department_id" in group or owner_ids
    kept = WeekFigures if by_pair else DepartmentWeek
    by_kept = [getattr(kept, name) for name in group]
    sums = [func.coalesce(func.sum(getattr(kept, name)), 0) for name in counters]
    counts = _within(kept, select(*by_kept, *sums), first, last, department_ids, owner_ids)
    for row in db.session.execute(counts.group_by(*by_kept)):
        key, values = tuple(row[: len(group)]), row[len(group) :]
        found[key].counts.update(zip(counters, (int(v) for v in values), strict=True))
    if not times:
        return dict(found)
    timed = AnswerTime if by_pair else DepartmentAnswerTime
    by_times = [getattr(timed, name) for name in group]
    minutes = select(*by_times, timed.minutes, func.sum(timed.handoffs))
    minutes = _within(timed, minutes, first, last, department_ids, owner_ids)
    minutes = minutes.group_by(*by_times, timed.minutes).order_by(*by_times, timed.minutes)
    for row in db.session.execute(minutes):
        key, minutes, n = tuple(row[: len(group)]), row[len(group)], int(row[len(group) + 1])
        found[key].answer_minutes.append((minutes, n))
    return dict(found)


def handoffs_by_pair(first: date, last: date) -> dict[tuple[int, int], int]:
    """How many handoffs each department was handed on behalf of each promising department in
    the weeks from `first` to `last`, by (promising, promised for): plain sums, as the matrix
    chooses its sides from them (as Figures, the 10,000 pairs of 100 departments took most
    of the page's time)."""
    summed = (
        select(
            WeekFigures.owner_department_id,
            WeekFigures.department_id,
            func.sum(WeekFigures.handoffs),
        )
        .where(WeekFigures.week >= first, WeekFigures.week <= last)
        .group_by(WeekFigures.owner_department_id, WeekFigures.department_id)
    )
    return {(owner, department): int(n) for owner, department, n in db.session.execute(summed)}


def what_happened(found: list) -> dict[int, tuple[list[str], int]]:
    """Each handoff's answers in order, as the figures count them ("countered", "accepted",
    "accepted at once by standing promise", "declined", "done on time", "done late"), and
    how many reminders it needed: one read of the timeline for the list."""
    handoff_ids = [h.id for h, _ in found]
    happened: dict[int, tuple[list[str], int]] = {i: ([], 0) for i in handoff_ids}
    if not handoff_ids:
        return happened
    commitment_ids = sorted({c.id for _, c in found})  # (the timeline's index is by commitment)
    due = {h.id: h.due_at for h, _ in found}
    for handoff_id, kind, data, summary, at in db.session.execute(
        select(
            TimelineEvent.handoff_id,
            TimelineEvent.kind,
            TimelineEvent.data,
            TimelineEvent.summary,
            TimelineEvent.created_at,
        )
        .where(
            TimelineEvent.commitment_id.in_(commitment_ids),
            TimelineEvent.handoff_id.in_(handoff_ids),
            TimelineEvent.kind.in_([*ANSWERS, "complete", "nag"]),
        )
        .order_by(TimelineEvent.id)
    ):
        answers, reminders = happened[handoff_id]
        data = data or {}
        if kind == "nag":
            if is_reminder(data):
                happened[handoff_id] = (answers, reminders + 1)
            continue
        if kind == "complete":
            answers.append("done on time" if at <= due[handoff_id] else "done late")
        elif kind == "accept" and by_standing_promise(data, summary):
            answers.append("accepted at once by standing promise")
        else:
            answers.append(
                {"accept": "accepted", "counter": "countered", "decline": "declined"}[kind]
            )
    return happened


def department_names() -> dict[int, str]:
    return dict(db.session.execute(select(Department.id, Department.name)).all())
