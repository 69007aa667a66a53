"""A commitment's overall status, derived from its handoffs: one pure function."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from handoff.commitments.lifecycle import OPEN_STATES, State


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


def derive_status(
    *,
    cancelled: bool,
    promised_at: datetime,
    handoffs: Iterable[HandoffFacts],
    now: datetime,
    at_risk_within: timedelta,
) -> Status:
    """The commitment's status, most serious first.

    cancelled  the commitment was cancelled
    fulfilled  every handoff still on the route is done
    overdue    not fulfilled and the customer's time has passed, or an open handoff is past due
    at risk    a handoff was declined or countered, or one still unanswered is due soon
    waiting    some handoff still waits for its department's answer
    confirmed  every handoff on the route is accepted (or done) and on time
    """
    if cancelled:
        return Status.CANCELLED
    route = [h for h in handoffs if h.state != State.CANCELLED]
    if not route or all(h.state == State.DONE for h in route):
        return Status.FULFILLED
    open_handoffs = [h for h in route if h.state in OPEN_STATES]
    if now > promised_at or any(h.due_at < now for h in open_handoffs):
        return Status.OVERDUE
    if any(h.state in (State.DECLINED, State.COUNTERED) for h in route):
        return Status.AT_RISK
    pending = [h for h in route if h.state == State.PENDING]
    if any(h.due_at - now <= at_risk_within for h in pending):
        return Status.AT_RISK
    if pending:
        return Status.WAITING
    return Status.CONFIRMED
