"""Standing promises to publish, and those that do not serve: read from the handoffs of a
period.

A department that keeps accepting the same request unchanged, with enough notice, answers
by hand what a standing promise would answer at once. The same request is the same words
asked of it (case and spaces aside); accepted unchanged is accepted by a person without a
counter; the notice is the time from the handover to the due time, and the shortest notice
it accepted is what a promise could offer. A published promise that is rarely used, or whose
limits are exceeded more often than kept, is named too.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select

from handoff.commitments.models import Handoff
from handoff.kernel.db import db
from handoff.promises.models import StandingPromise

LEAST_REQUESTS = 5  # a request asked fewer times in the period is no pattern yet
LEAST_SHARE = 0.9  # … nor one accepted unchanged less often than this
ACCEPTED = ("accepted", "done")


def same_request(ask: str) -> str:
    """What makes two requests the same: their words, case and spaces aside."""
    return " ".join(ask.casefold().split())


@dataclass
class Suggestion:
    department_id: int
    ask: str  # as it was first asked
    requests: int  # answered by a person
    accepted: int
    notice: timedelta  # the shortest notice among those accepted unchanged
    median_answer: timedelta | None

    @property
    def share(self) -> float:
        return self.accepted / self.requests

    @property
    def notice_in_units(self) -> tuple[int, str]:
        """The notice as a standing promise's lead time: whole days from two days on, else
        whole hours (at least one)."""
        if self.notice >= timedelta(days=2):
            return self.notice.days, "days"
        return max(int(self.notice.total_seconds() // 3600), 1), "hours"


@dataclass
class PromiseUse:
    promise_id: int
    department_id: int
    name: str
    at_once: int  # handoffs it accepted at once
    beyond: int  # handoffs that named it but needed an answer (beyond its limits)


def to_publish(start: datetime, end: datetime, department_ids=None) -> list[Suggestion]:
    """The requests handed over from `start` to `end` (no standing promise named) that their
    department, answering, kept accepting unchanged: most asked first."""
    query = select(
        Handoff.department_id,
        Handoff.ask,
        Handoff.state,
        Handoff.answered_by_id,
        Handoff.counter_terms,
        Handoff.counter_due_at,
        Handoff.requested_at,
        Handoff.due_at,
        Handoff.answered_at,
    ).where(
        Handoff.requested_at >= start,
        Handoff.requested_at < end,
        Handoff.standing_promise_id.is_(None),
    )
    if department_ids:
        query = query.where(Handoff.department_id.in_(department_ids))
    groups: dict[tuple, dict] = defaultdict(
        lambda: {"ask": "", "requests": 0, "accepted": 0, "notice": None, "answers": []}
    )
    for row in db.session.execute(query.execution_options(yield_per=2000)):
        if row.answered_by_id is None:
            continue  # not answered yet (or taken off the route unanswered): no verdict
        group = groups[(row.department_id, same_request(row.ask))]
        group["ask"] = group["ask"] or row.ask.strip()
        group["requests"] += 1
        unchanged = not row.counter_terms and row.counter_due_at is None
        if row.state in ACCEPTED and row.answered_by_id is not None and unchanged:
            group["accepted"] += 1
            notice = row.due_at - row.requested_at
            group["notice"] = notice if group["notice"] is None else min(group["notice"], notice)
            if row.answered_at is not None:
                group["answers"].append(row.answered_at - row.requested_at)
    published = _published_names()
    found = []
    for (department_id, words), group in groups.items():
        if group["requests"] < LEAST_REQUESTS or words in published.get(department_id, ()):
            continue
        if group["accepted"] < LEAST_SHARE * group["requests"] or not group["notice"]:
            continue
        answers = sorted(group["answers"])
        found.append(
            Suggestion(
                department_id=department_id,
                ask=group["ask"][:120],
                requests=group["requests"],
                accepted=group["accepted"],
                notice=group["notice"],
                median_answer=answers[(len(answers) - 1) // 2] if answers else None,
            )
        )
    return sorted(found, key=lambda s: (-s.requests, s.department_id, s.ask))


def _published_names() -> dict[int, set[str]]:
    names: dict[int, set[str]] = defaultdict(set)
    for department_id, name in db.session.execute(
        select(StandingPromise.department_id, StandingPromise.name).where(
            StandingPromise.active.is_(True)
        )
    ):
        names[department_id].add(same_request(name))
    return names


def promise_use(start: datetime, end: datetime, department_ids=None) -> list[PromiseUse]:
    """Each standing promise offered since before the period, and how the handoffs that named
    it in the period went: accepted at once, or beyond its limits (needing an answer)."""
    promises = select(StandingPromise).where(  # (one published during the period: not yet)
        StandingPromise.active.is_(True), StandingPromise.created_at <= start
    )
    if department_ids:
        promises = promises.where(StandingPromise.department_id.in_(department_ids))
    uses = {
        p.id: PromiseUse(p.id, p.department_id, p.name, 0, 0) for p in db.session.scalars(promises)
    }
    if not uses:
        return []
    for promise_id, answered_by_id, answer_note in db.session.execute(
        select(Handoff.standing_promise_id, Handoff.answered_by_id, Handoff.answer_note).where(
            Handoff.requested_at >= start,
            Handoff.requested_at < end,
            Handoff.standing_promise_id.in_(list(uses)),
        )
    ):
        use = uses[promise_id]
        if answered_by_id is None and answer_note.startswith("By standing promise"):
            use.at_once += 1
        else:
            use.beyond += 1
    return sorted(uses.values(), key=lambda u: (u.department_id, u.name))


@dataclass
class Reason:
    department_id: int
    answer: str  # "declined" or "countered"
    words: str  # as first given
    times: int


def common_reasons(start: datetime, end: datetime, department_ids=None, most: int = 3):
    """The reasons departments most often gave for declining and the terms they most often
    countered with, for the handoffs handed over from `start` to `end` (the same words, case
    and spaces aside): at most `most` of each a department, most given first."""
    query = select(
        Handoff.department_id, Handoff.state, Handoff.answer_note, Handoff.counter_terms
    ).where(
        Handoff.requested_at >= start,
        Handoff.requested_at < end,
        Handoff.state.in_(["declined", "countered"]),
    )
    if department_ids:
        query = query.where(Handoff.department_id.in_(department_ids))
    counted: dict[tuple, list] = {}
    for department_id, state, note, terms in db.session.execute(query):
        words = (note if state == "declined" else terms or note or "").strip()
        if not words:
            continue
        key = (department_id, state, same_request(words))
        counted.setdefault(key, [words[:200], 0])[1] += 1
    by_department: dict[tuple, list] = defaultdict(list)
    for (department_id, state, _), (words, times) in counted.items():
        by_department[(department_id, state)].append(Reason(department_id, state, words, times))
    found = []
    for reasons in by_department.values():
        found += sorted(reasons, key=lambda r: (-r.times, r.words))[:most]
    return sorted(found, key=lambda r: (r.department_id, r.answer, -r.times, r.words))
