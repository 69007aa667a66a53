"""The lifecycle of a handoff: one table of legal moves, no Flask, no database.

                 accept                       complete
    pending ───────────────────▶ accepted ─────────────▶ done
     │  ▲  │                        ▲
     │  │  │ counter                │ take_counter (owner side)
     │  │  └──────────▶ countered ──┘
     │  └── reject_counter ──┘
     │ decline
     └────────▶ declined

    pending | countered | accepted ── cancel ──▶ cancelled

`done`, `declined` and `cancelled` are final. Any other move raises InvalidTransition.
"""

from enum import StrEnum


class State(StrEnum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    COUNTERED = "countered"
    DECLINED = "declined"
    DONE = "done"
    CANCELLED = "cancelled"


class Action(StrEnum):
    ACCEPT = "accept"
    COUNTER = "counter"
    DECLINE = "decline"
    TAKE_COUNTER = "take_counter"
    REJECT_COUNTER = "reject_counter"
    COMPLETE = "complete"
    CANCEL = "cancel"


TRANSITIONS: dict[tuple[State, Action], State] = {
    (State.PENDING, Action.ACCEPT): State.ACCEPTED,
    (State.PENDING, Action.COUNTER): State.COUNTERED,
    (State.PENDING, Action.DECLINE): State.DECLINED,
    (State.COUNTERED, Action.TAKE_COUNTER): State.ACCEPTED,
    (State.COUNTERED, Action.REJECT_COUNTER): State.PENDING,
    (State.ACCEPTED, Action.COMPLETE): State.DONE,
    (State.PENDING, Action.CANCEL): State.CANCELLED,
    (State.COUNTERED, Action.CANCEL): State.CANCELLED,
    (State.ACCEPTED, Action.CANCEL): State.CANCELLED,
}

OPEN_STATES = frozenset({State.PENDING, State.COUNTERED, State.ACCEPTED})
FINAL_STATES = frozenset(State) - OPEN_STATES
# A commitment with a handoff in one of these still needs someone: it stays on the board.
UNSETTLED_STATES = OPEN_STATES | {State.DECLINED}

# Repeating one of these answers on a handoff already in its result is harmless: the second
# click of a double-click, or two people giving the same answer at once.
REPEATABLE = frozenset({Action.ACCEPT, Action.DECLINE, Action.COMPLETE, Action.CANCEL})


class InvalidTransition(Exception):
    """A move the lifecycle does not allow from the handoff's current state."""

    def __init__(self, state: State, action: Action):
        self.state = State(state)
        self.action = Action(action)
        super().__init__(f"cannot {self.action.value} a handoff that is {self.state.value}")


def next_state(state: State, action: Action) -> State:
    """The state after `action`, or InvalidTransition if the move is not allowed."""
    try:
        return TRANSITIONS[(State(state), Action(action))]
    except KeyError:
        raise InvalidTransition(state, action) from None


def is_repeat(state: State, action: Action) -> bool:
    """Whether `action` would only repeat an answer the handoff already has."""
    if action not in REPEATABLE:
        return False
    targets = {target for (_, act), target in TRANSITIONS.items() if act == action}
    return State(state) in targets


def allowed_actions(state: State) -> frozenset[Action]:
    """The actions the lifecycle allows from `state`."""
    return frozenset(action for (source, action) in TRANSITIONS if source == state)
