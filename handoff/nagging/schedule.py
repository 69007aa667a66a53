"""Keeping each handoff's next reminder up to date as its state changes."""

from datetime import datetime

from handoff.commitments.lifecycle import State
from handoff.nagging import rules
from handoff.nagging.models import NagPolicy


class PolicyBook:
    """Policies looked up once each, for a sweep or a request."""

    def __init__(self, now: datetime):
        self.now = now
        self._policies: dict[int, rules.Policy] = {}
        self._rows: dict[int, NagPolicy] = {}

    def row(self, department_id: int) -> NagPolicy:
        if department_id not in self._rows:
            self._rows[department_id] = NagPolicy.for_department(department_id)
        return self._rows[department_id]

    def rules(self, department_id: int) -> rules.Policy:
        if department_id not in self._policies:
            self._policies[department_id] = self.row(department_id).rules(self.now)
        return self._policies[department_id]


def chased_department_id(handoff) -> int:
    """Whose business hours and cadence apply: the owner side's while a counter waits."""
    if handoff.state == State.COUNTERED:
        return handoff.commitment.owner_department.id
    return handoff.department.id


def start_series(handoff, now: datetime, book: PolicyBook | None = None) -> None:
    """The handoff's state changed: its reminders start a new series."""
    book = book or PolicyBook(now)
    handoff.nag_series = (handoff.nag_series or 0) + 1
    handoff.nag_count = 0
    planned = rules.first(
        handoff.state,
        since=now,
        due_at=handoff.due_at,
        policy=book.rules(chased_department_id(handoff)),
    )
    handoff.next_nag_at = planned.at if planned else None
    handoff.next_nag_kind = planned.kind if planned else None


def reschedule_open_handoffs(now: datetime, department_id: int | None) -> int:
    """Plan the next reminder again under changed policies; answer how many moved.

    `department_id` None means the organisation's default changed: every open handoff.
    The plan counts from the last reminder actually sent, or from when the state began.
    """
    from sqlalchemy import select

    from handoff.commitments.models import Handoff
    from handoff.kernel.db import db

    query = select(Handoff).where(Handoff.next_nag_at.is_not(None))
    if department_id is not None:
        query = query.where(Handoff.department_id == department_id)
    book = PolicyBook(now)
    moved = 0
    for handoff in db.session.scalars(query):
        policy = book.rules(chased_department_id(handoff))
        if handoff.nag_count and handoff.last_nagged_at:
            planned = rules.following(
                handoff.state, sent_at=handoff.last_nagged_at, due_at=handoff.due_at, policy=policy
            )
        else:
            planned = rules.first(
                handoff.state, since=handoff.changed_at, due_at=handoff.due_at, policy=policy
            )
        if planned and (planned.at, planned.kind) != (handoff.next_nag_at, handoff.next_nag_kind):
            handoff.next_nag_at, handoff.next_nag_kind = planned.at, planned.kind
            moved += 1
    return moved
