"""A commitment's overall status, derived from its handoffs: one pure function."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from handoff.commitments.lifecycle import OPEN_STATES, UNSETTLED_STATES, State


class Status(StrEnum):
    WAITING = "waiting"
    CONFIRMED = "confirmed"
    AT_RISK = "at_risk"
    FULFILLED = "fulfilled"
    OVERDUE = "overdue"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        return STATUS_LABELS[self]


STATUS_LABELS = {
    Status.WAITING: "Waiting for acknowledgement",
    Status.CONFIRMED: "Confirmed",
    Status.AT_RISK: "At risk",
    Status.FULFILLED: "Fulfilled",
    Status.OVERDUE: "Overdue",
    Status.CANCELLED: "Cancelled",
}


@dataclass(frozen=True)
class HandoffFacts:
    """What the status needs to know about one handoff."""

    state: State
    due_at: datetime


@dataclass(frozen=True)
class BoardFacts:
    """What a commitment's status follows from at any moment, kept on its row (by the verbs,
    through the flush) so that the board can ask the database for one page of it.

    on_board       it still needs someone: not cancelled, and a handoff is open or declined
    overdue_from   the moment it turns overdue: the customer's date, or an open handoff's
                   due time if earlier (None when it is off the board)
    answer_due_at  the earliest due time of a handoff still waiting for its answer
    troubled       a handoff was declined or countered
    """

    on_board: bool
    overdue_from: datetime | None
    answer_due_at: datetime | None
    troubled: bool


def board_facts(
    *, cancelled: bool, promised_at: datetime, handoffs: Iterable[HandoffFacts]
) -> BoardFacts:
    """The facts of a commitment's status, from its handoffs."""
    handoffs = list(handoffs)
    on_board = not cancelled and any(h.state in UNSETTLED_STATES for h in handoffs)
    if not on_board:
        return BoardFacts(False, None, None, False)
    open_due = [h.due_at for h in handoffs if h.state in OPEN_STATES]
    pending_due = [h.due_at for h in handoffs if h.state == State.PENDING]
    return BoardFacts(
        on_board=True,
        overdue_from=min([promised_at, *open_due]),
        answer_due_at=min(pending_due, default=None),
        troubled=any(h.state in (State.DECLINED, State.COUNTERED) for h in handoffs),
    )


def status_from(
    facts: BoardFacts, *, cancelled: bool, now: datetime, at_risk_within: timedelta
) -> Status:
    """The status at `now`, most serious first (the board asks the same in SQL).

    cancelled  the commitment was cancelled
    fulfilled  every handoff still on the route is done
    overdue    not fulfilled and the customer's time has passed, or an open handoff is past due
    at risk    a handoff was declined or countered, or one still unanswered is due soon
    waiting    some handoff still waits for its department's answer
    confirmed  every handoff on the route is accepted (or done) and on time
    """
    if cancelled:
        return Status.CANCELLED
    if not facts.on_board:
        return Status.FULFILLED
    if facts.overdue_from < now:
        return Status.OVERDUE
    if facts.troubled:
        return Status.AT_RISK
    if facts.answer_due_at is not None and facts.answer_due_at - now <= at_risk_within:
        return Status.AT_RISK
    if facts.answer_due_at is not None:
        return Status.WAITING
    return Status.CONFIRMED


def derive_status(
    *,
    cancelled: bool,
    promised_at: datetime,
    handoffs: Iterable[HandoffFacts],
    now: datetime,
    at_risk_within: timedelta,
) -> Status:
    """The commitment's status at `now`, derived from its handoffs."""
    facts = board_facts(cancelled=cancelled, promised_at=promised_at, handoffs=handoffs)
    return status_from(facts, cancelled=cancelled, now=now, at_risk_within=at_risk_within)
