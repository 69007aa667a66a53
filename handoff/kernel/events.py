"""Domain events: what happened, said by the verb that made it happen.

Every event is a small frozen dataclass named in the past tense, all of them here. A verb
announces what it did once it has done it; the reactions of other concepts (plan the next
reminder, accept within a standing promise, move the customer conversation …) run at once,
in the verb's transaction, so that all of it commits or none of it does. Anything that leaves
the process (mail, later webhooks) is written as an outbox row there and sent after commit.

Who reacts to what is one table, handoff/reactions.py, installed when the app is made: the
verbs do not know who listens, and a new feature plugs in without touching them.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The reasons a promise to the customer breaks (PromiseBroke.reason).
DECLINED, DATE_MOVED, LATE = "declined", "date_moved", "late"


@dataclass(frozen=True)
class CommitmentRecorded:
    """A promise to a customer was recorded, its route handed over (after the handoffs'
    own HandoffRequested, so a standing promise has accepted what it covers)."""

    commitment: Any
    actor: Any
    at: datetime


@dataclass(frozen=True)
class HandoffRequested:
    """A department was handed its part of a commitment (recorded, or a step added)."""

    handoff: Any
    actor: Any
    at: datetime


@dataclass(frozen=True)
class HandoffAnswered:
    """A handoff's state moved: accepted, countered, declined, settled, done, cancelled."""

    handoff: Any
    action: str
    from_state: str
    to_state: str
    actor: Any
    at: datetime
    by_promise: bool = False  # accepted at once by a standing promise, not by a person


@dataclass(frozen=True)
class AcceptedByStandingPromise:
    """A handoff within its department's standing promise was accepted at once, by it."""

    handoff: Any
    promise: str
    at: datetime


@dataclass(frozen=True)
class PromiseBroke:
    """The promise to the customer broke: a decline, a taken counter that moves the
    customer's date, or accepted work late. `person` answered for the breaking department."""

    handoff: Any
    reason: str
    person: Any
    at: datetime


@dataclass(frozen=True)
class CustomerOwnerChanged:
    """Another department now talks to the customer about the commitment."""

    commitment: Any
    task: Any
    from_department_id: int
    to_department_id: int
    at: datetime


@dataclass(frozen=True)
class CommitmentFulfilled:
    """Every part of the commitment is done."""

    commitment: Any
    at: datetime


@dataclass(frozen=True)
class CustomerTold:
    """Someone told the customer what a broken promise means for them (a task closed)."""

    task_id: int
    handoff_id: int | None  # the handoff whose break set the task
    in_time: bool  # within the task's deadline
    at: datetime


@dataclass(frozen=True)
class FeedbackRecorded:
    """The customer's feedback (a 1–5 score) on a fulfilled commitment was recorded."""

    commitment: Any
    score: int
    at: datetime


@dataclass(frozen=True)
class NagRecorded:
    """A reminder was recorded for its recipients (about a handoff, or a task)."""

    commitment_id: int
    handoff_id: int | None
    task_id: int | None
    kind: str
    number: int
    level: int
    recipients: tuple[str, ...]
    at: datetime


@dataclass(frozen=True)
class Escalated:
    """A reminder reached a new level: the department's leads, or the organisation."""

    commitment_id: int
    handoff_id: int | None
    task_id: int | None
    department_id: int
    level: int
    at: datetime


EVENTS = (
    CommitmentRecorded,
    HandoffRequested,
    HandoffAnswered,
    AcceptedByStandingPromise,
    PromiseBroke,
    CustomerOwnerChanged,
    CommitmentFulfilled,
    CustomerTold,
    FeedbackRecorded,
    NagRecorded,
    Escalated,
)

# Filled from handoff/reactions.py when the app is made.
HANDLERS: dict[type, list[Callable[[Any], None]]] = {}


def announce(event) -> None:
    """Say what happened: every reaction to it runs now, in the caller's transaction."""
    if not HANDLERS:
        raise RuntimeError("no reactions installed: create the app (handoff.reactions.install)")
    for react in HANDLERS.get(type(event), ()):
        react(event)


def install(table: dict[type, list[Callable[[Any], None]]]) -> None:
    """Make `table` the reactions to every event (each event must have an entry)."""
    missing = [e.__name__ for e in EVENTS if e not in table]
    if missing:
        raise ValueError(f"no entry for {', '.join(missing)} in the reactions")
    HANDLERS.clear()
    HANDLERS.update({event: list(reactions) for event, reactions in table.items()})
