"""Keeping each handoff's next reminder up to date as its state changes."""

from datetime import datetime

from sqlalchemy import select

from handoff.commitments.lifecycle import State
from handoff.commitments.models import Handoff
from handoff.departments.hours import WorkingHours
from handoff.kernel.db import db
from handoff.kernel.events import HandoffAnswered, HandoffRequested
from handoff.nagging import rules
from handoff.nagging.models import NagPolicy, policy_of, rules_for
from handoff.ownership.models import CustomerTask


class PolicyBook:
    """Policies (with the hours they count in) looked up once each, for a request; with
    `everyone`, every department's read in two queries at once, for a sweep's batch."""

    def __init__(self, now: datetime, everyone: bool = False):
        self.now = now
        self._policies: dict[int, rules.Policy] = {}
        self._rows = None
        if everyone:
            # (highest id first, so that a department's first row wins, as organisation())
            policies = {
                p.department_id: p
                for p in db.session.scalars(select(NagPolicy).order_by(NagPolicy.id.desc()))
            }
            hours = {
                h.department_id: h
                for h in db.session.scalars(select(WorkingHours).order_by(WorkingHours.id.desc()))
            }
            self._rows = (policies, hours)

    def rules(self, department_id: int) -> rules.Policy:
        if department_id not in self._policies:
            self._policies[department_id] = self._read(department_id)
        return self._policies[department_id]

    def _read(self, department_id: int) -> "rules.Policy":
        if self._rows is None:
            return rules_for(department_id, self.now)
        policies, hours = self._rows
        # a department's own, else the organisation's, else the defaults (as rules_for)
        policy = policies.get(department_id) or policies.get(None) or NagPolicy.organisation()
        kept = hours.get(department_id) or hours.get(None) or WorkingHours.organisation()
        return policy_of(policy, kept.business_hours(self.now.year))


def chased_department_id(handoff) -> int:
    """Whose business hours and cadence apply: the owner side's while a counter waits."""
    if handoff.state == State.COUNTERED:
        return handoff.owner_department_id
    return handoff.department_id


def plan_reminders(event: HandoffRequested | HandoffAnswered) -> None:
    """A handoff was asked for or its state moved: its reminders start a new series."""
    start_series(event.handoff, event.at)


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


def reschedule_open_work(now: datetime, department_id: int | None) -> int:
    """Plan the next reminder again under changed hours or policies; answer how many moved.

    `department_id` is whose hours or policy changed (None: the organisation's default, which
    may be anyone's). Every handoff chased on that department's policy is planned again —
    its own, and those of others' that wait for it to settle a counter — and every task to
    tell a customer it must carry out. A plan counts from the last reminder actually sent,
    or from when the state began; a task's notice and deadline stay as they were given.
    """
    book = PolicyBook(now)
    handoffs = select(Handoff).where(Handoff.next_nag_at.is_not(None))
    tasks = select(CustomerTask).where(
        CustomerTask.next_nag_at.is_not(None), CustomerTask.nags_sent > 0
    )
    if department_id is not None:
        handoffs = handoffs.where(
            (Handoff.department_id == department_id)
            | (Handoff.owner_department_id == department_id)
        )
        tasks = tasks.where(CustomerTask.department_id == department_id)
    moved = 0
    for handoff in db.session.scalars(handoffs):
        chased = chased_department_id(handoff)
        if department_id is not None and chased != department_id:
            continue
        policy = book.rules(chased)
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
    for task in db.session.scalars(tasks):
        planned = rules.after_tell(
            task.nags_sent - 1,
            sent_at=task.last_nagged_at,
            due_at=task.due_at,
            policy=book.rules(task.department_id),
        )
        if planned != task.next_nag_at:
            task.next_nag_at = planned
            moved += 1
    return moved
