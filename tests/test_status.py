"""A commitment's status, derived from its handoffs by one pure function."""

from datetime import UTC, datetime, timedelta

import pytest

from handoff.commitments.lifecycle import State
from handoff.commitments.status import HandoffFacts, Status, derive_status

NOW = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)
SOON = timedelta(hours=24)


def status(*handoffs, cancelled=False, promised_in=timedelta(days=5)):
    return derive_status(
        cancelled=cancelled,
        promised_at=NOW + promised_in,
        handoffs=[HandoffFacts(State(state), NOW + due) for state, due in handoffs],
        now=NOW,
        at_risk_within=SOON,
    )


FAR = timedelta(days=3)


@pytest.mark.parametrize(
    ("handoffs", "expected"),
    [
        ([("pending", FAR)], Status.WAITING),
        ([("accepted", FAR), ("pending", FAR)], Status.WAITING),
        ([("accepted", FAR)], Status.CONFIRMED),
        ([("accepted", FAR), ("done", -FAR)], Status.CONFIRMED),
        ([("done", -FAR), ("done", -FAR)], Status.FULFILLED),
        ([("done", -FAR), ("cancelled", FAR)], Status.FULFILLED),
        ([("declined", FAR), ("accepted", FAR)], Status.AT_RISK),
        ([("countered", FAR)], Status.AT_RISK),
        ([("pending", timedelta(hours=23))], Status.AT_RISK),
        ([("pending", timedelta(hours=25))], Status.WAITING),
        ([("accepted", timedelta(hours=2))], Status.CONFIRMED),
        ([("accepted", -timedelta(minutes=1))], Status.OVERDUE),
        ([("pending", -timedelta(hours=1))], Status.OVERDUE),
        ([("done", -FAR), ("declined", -FAR)], Status.AT_RISK),
    ],
)
def test_status_follows_the_handoffs(handoffs, expected):
    assert status(*handoffs) == expected


def test_cancelled_wins_over_everything():
    assert status(("accepted", -FAR), cancelled=True) == Status.CANCELLED


def test_a_passed_customer_date_makes_an_unfulfilled_commitment_overdue():
    assert status(("accepted", FAR), promised_in=-timedelta(minutes=5)) == Status.OVERDUE


def test_a_fulfilled_commitment_is_not_overdue_after_its_date():
    assert status(("done", -FAR), promised_in=-FAR) == Status.FULFILLED


def test_a_late_handoff_is_overdue_even_when_another_was_declined():
    assert status(("declined", FAR), ("accepted", -timedelta(hours=1))) == Status.OVERDUE


def test_every_status_has_a_label():
    assert {s.label for s in Status} == {
        "Waiting for acknowledgement",
        "Confirmed",
        "At risk",
        "Fulfilled",
        "Overdue",
        "Cancelled",
    }
