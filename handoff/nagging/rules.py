"""What a handoff needs next, and when: pure functions of its state, a policy and time.

    pending    → ACK       the department must answer; first after the acknowledgement
                           window, then on the cadence
    countered  → SETTLE    the owner side must settle the counter, on the same terms
    accepted   → DUE_SOON  once, a while before the due time (in business time)
               → LATE      from the due time on, while it is not done, on the cadence
    done, declined, cancelled → nothing

A task to tell the customer is chased like a pending handoff: a notice at once (number 0),
then reminders from its deadline on the cadence, escalating the same way.

Reminders are numbered within a series; a change of state starts a new series. After
`escalate_after` reminders the next ones also go to the leads, after `org_escalate_after`
to the organisation's escalation contact too. Every time here is inside business hours.
"""

from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum, StrEnum

from handoff.commitments.lifecycle import State
from handoff.departments.business_time import BusinessHours


class Kind(StrEnum):
    ACK = "ack"
    SETTLE = "settle"
    DUE_SOON = "due_soon"
    LATE = "late"
    FYI = "fyi"  # news for the digest (accepted by standing promise), never a reminder
    TELL = "tell"  # a task to tell the customer (see handoff.ownership), not a handoff
    HANDOVER = "handover"  # news for the former customer owner: another department talks now


class Level(IntEnum):
    DEPARTMENT = 0
    LEADS = 1
    ORGANISATION = 2


@dataclass(frozen=True)
class Policy:
    """A department's nag policy, in business minutes."""

    hours: BusinessHours
    ack_window: int
    cadence: int
    escalate_after: int
    org_escalate_after: int | None
    due_soon: int


@dataclass(frozen=True)
class Next:
    kind: Kind
    at: datetime


def kind_for(state: str, due_at: datetime, now: datetime) -> Kind | None:
    """The kind of reminder a handoff in `state` calls for at `now`, if any."""
    state = State(state)
    if state == State.PENDING:
        return Kind.ACK
    if state == State.COUNTERED:
        return Kind.SETTLE
    if state == State.ACCEPTED:
        return Kind.DUE_SOON if now < due_at else Kind.LATE
    return None


def first(state: str, *, since: datetime, due_at: datetime, policy: Policy) -> Next | None:
    """The first reminder of the series that starts when the handoff entered `state`."""
    state = State(state)
    hours = policy.hours
    if state in (State.PENDING, State.COUNTERED):
        kind = Kind.ACK if state == State.PENDING else Kind.SETTLE
        return Next(kind, hours.add(since, policy.ack_window))
    if state == State.ACCEPTED:
        remind = hours.subtract(due_at, policy.due_soon) if policy.due_soon else due_at
        if since < remind < due_at:
            return Next(Kind.DUE_SOON, hours.next_open(remind))
        return Next(Kind.LATE, hours.next_open(max(due_at, since)))
    return None


def after(kind: Kind, *, sent_at: datetime, due_at: datetime, policy: Policy) -> Next:
    """The reminder that follows one sent at `sent_at`: counted from the one actually sent."""
    if kind == Kind.DUE_SOON:
        return Next(Kind.LATE, policy.hours.next_open(max(due_at, sent_at)))
    return Next(kind, policy.hours.add(sent_at, policy.cadence))


def following(state: str, *, sent_at: datetime, due_at: datetime, policy: Policy) -> Next | None:
    """The reminder after the last one, sent at `sent_at` to a handoff still in `state`."""
    kind = kind_for(state, due_at, sent_at)
    return None if kind is None else after(kind, sent_at=sent_at, due_at=due_at, policy=policy)


def after_tell(number: int, *, sent_at: datetime, due_at: datetime, policy: Policy) -> datetime:
    """When a task to tell the customer is reminded next, after reminder `number`."""
    if number == 0 and sent_at < due_at:
        return policy.hours.next_open(due_at)
    return policy.hours.add(sent_at, policy.cadence)


def level(number: int, policy: Policy) -> Level:
    """Who the `number`th reminder of a series goes to."""
    if policy.org_escalate_after is not None and number > policy.org_escalate_after:
        return Level.ORGANISATION
    if number > policy.escalate_after:
        return Level.LEADS
    return Level.DEPARTMENT


def is_due(next_at: datetime | None, now: datetime, policy: Policy) -> bool:
    """Whether a reminder planned for `next_at` goes out at `now`: due, and in business hours."""
    return next_at is not None and next_at <= now and policy.hours.is_open(now)
