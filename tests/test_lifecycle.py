"""The handoff lifecycle, without an app: every legal and every illegal move."""

import itertools

import pytest

from handoff.commitments.lifecycle import (
    FINAL_STATES,
    OPEN_STATES,
    TRANSITIONS,
    Action,
    InvalidTransition,
    State,
    allowed_actions,
    is_repeat,
    next_state,
)

S, A = State, Action
LEGAL = {
    (S.PENDING, A.ACCEPT): S.ACCEPTED,
    (S.PENDING, A.COUNTER): S.COUNTERED,
    (S.PENDING, A.DECLINE): S.DECLINED,
    (S.COUNTERED, A.TAKE_COUNTER): S.ACCEPTED,
    (S.COUNTERED, A.REJECT_COUNTER): S.PENDING,
    (S.ACCEPTED, A.COMPLETE): S.DONE,
    (S.PENDING, A.CANCEL): S.CANCELLED,
    (S.COUNTERED, A.CANCEL): S.CANCELLED,
    (S.ACCEPTED, A.CANCEL): S.CANCELLED,
}
ILLEGAL = [pair for pair in itertools.product(State, Action) if pair not in LEGAL]


@pytest.mark.parametrize(("state", "action"), list(LEGAL), ids=lambda v: v.value)
def test_legal_move_answers_its_next_state(state, action):
    assert next_state(state, action) == LEGAL[(state, action)]


@pytest.mark.parametrize(("state", "action"), ILLEGAL, ids=lambda v: v.value)
def test_illegal_move_is_refused_naming_the_state(state, action):
    with pytest.raises(InvalidTransition) as refused:
        next_state(state, action)
    assert refused.value.state == state
    assert state.value in str(refused.value)


def test_the_table_is_exactly_the_documented_lifecycle():
    assert TRANSITIONS == LEGAL


def test_final_states_allow_no_move():
    assert {S.DONE, S.DECLINED, S.CANCELLED} == FINAL_STATES
    for state in FINAL_STATES:
        assert allowed_actions(state) == frozenset()


def test_every_open_state_can_be_cancelled():
    for state in OPEN_STATES:
        assert A.CANCEL in allowed_actions(state)


def test_states_are_read_from_their_stored_strings():
    assert next_state("pending", "accept") == S.ACCEPTED


def test_repeating_an_answer_already_given_is_recognised():
    assert is_repeat(S.ACCEPTED, A.ACCEPT)
    assert is_repeat(S.DECLINED, A.DECLINE)
    assert is_repeat(S.DONE, A.COMPLETE)
    assert not is_repeat(S.DECLINED, A.ACCEPT)
    assert not is_repeat(S.COUNTERED, A.COUNTER)  # a second counter is a conflict, not a repeat
    assert not is_repeat(S.PENDING, A.ACCEPT)
