"""Standing promises to publish, and those that do not serve: read from the handoffs of a
period.

A department that keeps accepting the same request unchanged, with enough notice, answers
by hand what a standing promise would answer at once. The same request is the same words
asked of it (case and spaces aside); accepted unchanged is a first answer that accepts it;
the notice is the business time from the handover to the due time (in the department's
hours, as a standing promise's lead time is counted), and the shortest notice it
accepted is what a promise could offer. They are counted by week as they happen
(insights.models.RequestWeek). A published promise that is rarely used, or whose
limits are exceeded more often than kept, is named too.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select

from handoff.commitments.models import Handoff
from handoff.departments.hours import business_day_minutes
from handoff.insights.models import RequestWeek
from handoff.insights.rollups import same_request
from handoff.kernel.db import db
from handoff.promises.models import StandingPromise

LEAST_REQUESTS = 5  # a request asked fewer times in the period is no pattern yet
LEAST_SHARE = 0.9  # … nor one accepted unchanged less often than this


@dataclass
class Suggestion:
    department_id: int
    ask: str  # as it was first asked
    requests: int  # answered by a person
    accepted: int
    notice: int  # the shortest notice among those accepted unchanged, in business minutes
    day_minutes: int  # how long the department's working day is
    mean_answer: int  # business minutes the first answers took, on average

    @property
    def share(self) -> float:
        return self.accepted / self.requests

    @property
    def notice_in_units(self) -> tuple[int, str]:
        """The notice as a standing promise's lead time, rounded down so that the promise
        would have covered every one of them: whole business days from two on, else whole
        business hours."""
        if self.notice >= 2 * self.day_minutes:
            return self.notice // self.day_minutes, "days"
        return self.notice // 60, "hours"


@dataclass
class PromiseUse:
    promise_id: int
    department_id: int
    name: str
    at_once: int  # handoffs it accepted at once
    beyond: int  # handoffs that named it but needed an answer (beyond its limits)
    whole_period: bool = True  # offered since before the period (else: published during it)

    @property
    def rarely_used(self) -> bool:
        """Accepted fewer than two at once over a whole period it was offered in."""
        return self.whole_period and self.at_once < 2

    @property
    def exceeded(self) -> bool:
        """Named more often beyond its limits than within them."""
        return self.beyond > self.at_once


def to_publish(first_week: date, last_week: date, department_ids=None) -> list[Suggestion]:
    """The requests of the weeks from `first_week` to `last_week` (Mondays; no standing
    promise named) that their department, answering, kept accepting unchanged: most asked
    first. Read from the weekly counts the domain events keep, not from the handoffs."""
    answered = func.sum(RequestWeek.answered)
    query = (
        select(
            RequestWeek.department_id,
            RequestWeek.request,
            func.min(RequestWeek.ask),
            answered,
            func.sum(RequestWeek.accepted),
            func.min(RequestWeek.least_notice),
            func.sum(RequestWeek.answer_minutes),
        )
        .where(RequestWeek.week >= first_week, RequestWeek.week <= last_week)
        .group_by(RequestWeek.department_id, RequestWeek.request)
        .having(answered >= LEAST_REQUESTS)
    )
    if department_ids:
        query = query.where(RequestWeek.department_id.in_(department_ids))
    published = _published_names()
    found = []
    for department_id, words, ask, requests, accepted, notice, minutes in db.session.execute(query):
        requests, accepted = int(requests), int(accepted or 0)
        if words in published.get(department_id, ()) or notice is None or notice <= 0:
            continue
        if accepted < LEAST_SHARE * requests:
            continue
        found.append(
            Suggestion(
                department_id=department_id,
                ask=ask,
                requests=requests,
                accepted=accepted,
                notice=int(notice),
                day_minutes=business_day_minutes(department_id),
                mean_answer=int(minutes or 0) // requests,
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
    """Each standing promise offered in the period, and how the handoffs that named it in the
    period went: accepted at once, or beyond its limits (needing an answer). One published
    during the period is judged by its limits, not by how often it was used."""
    promises = select(StandingPromise).where(
        StandingPromise.active.is_(True), StandingPromise.created_at < end
    )
    if department_ids:
        promises = promises.where(StandingPromise.department_id.in_(department_ids))
    uses = {
        p.id: PromiseUse(p.id, p.department_id, p.name, 0, 0, p.created_at <= start)
        for p in db.session.scalars(promises)
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
