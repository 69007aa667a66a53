"""You break it, you own it: moving the customer conversation, and telling the customer.

When a department declines its handoff, when a counter that moves the customer's date is
taken, or when an accepted handoff passes its due time undone, the promise to the customer
is broken and someone must tell them. With the organisation's rule on, that someone is the
department that broke it (and the person who answered for it, where known); with it off,
the conversation stays where it was. Either way a "tell the customer" task is set with a
deadline in business time, and the sweep nags it until someone marks it told.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cache

from sqlalchemy import Integer, bindparam, func, select
from sqlalchemy.orm import joinedload, lazyload, selectinload

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.rows import (
    CommitmentRow,
    Named,
    aliases,
    commitment_rows,
)
from handoff.commitments.sentences import customer_sentence
from handoff.departments.hours import hours_of
from handoff.departments.models import Department
from handoff.kernel import timeline
from handoff.kernel.db import db, locked
from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed
from handoff.kernel.events import CustomerOwnerChanged, CustomerTold, PromiseBroke, announce
from handoff.kernel.paging import Cursor, Page, fetch_after, page_of
from handoff.ownership.models import CustomerTask, OrganisationSettings, reason_text


def promise_broke(
    handoff: Handoff, reason: str, now: datetime, person: Person | None
) -> CustomerTask:
    """The customer must hear that the promise broke: set who tells them, and by when.

    `person` is who answered for the breaking department (None when nobody did, e.g. a
    handoff accepted by standing promise that went late). Any earlier task still open on
    the commitment is passed on: one conversation, one owner, one task at a time.
    """
    commitment = handoff.commitment
    settings = OrganisationSettings.current()
    former = commitment.customer_owner_department
    moves = settings.owner_moves and (
        commitment.customer_owner_department_id != handoff.department_id
        or (person is not None and commitment.customer_owner_person_id != person.id)
    )
    if moves:
        commitment.customer_owner_department = handoff.department
        commitment.customer_owner_person = person
    department = commitment.customer_owner_department
    handed_over = former is not None and former.id != department.id
    hours = hours_of(department.id, now.year)
    task = CustomerTask(
        commitment_id=commitment.id,
        handoff_id=handoff.id,
        reason=reason,
        department_id=department.id,
        person_id=commitment.customer_owner_person.id if commitment.customer_owner_person else None,
        from_department_id=former.id if handed_over else None,
        carried=already_told(commitment),
        created_at=now,
        due_at=hours.add(now, settings.tell_customer_minutes),
        next_nag_at=now,  # the notice goes out in the next sweep, in business hours
        note="",
        nags_sent=0,
    )
    db.session.add(task)
    db.session.flush()
    db.session.refresh(task)
    _pass_on(open_tasks(commitment, but=task), task, now)
    who = department.name + (f" ({person.name})" if moves and person else "")
    kind = "owner_moved" if moves else "tell_customer"
    timeline.record(
        commitment, kind, now, handoff=handoff, about_at=task.due_at, owner=who, why=task.why
    )
    if handed_over:
        announce(CustomerOwnerChanged(commitment, task, former.id, department.id, now))
    return task


def on_promise_broke(event: PromiseBroke) -> None:
    """You break it, you own it: the reaction to a broken promise."""
    promise_broke(event.handoff, event.reason, event.at, event.person)


def _pass_on(earlier: list[CustomerTask], task: CustomerTask, now: datetime) -> None:
    """Close the tasks still open on the commitment: the new task carries the conversation."""
    for old in earlier:
        old.closed_at = now
        old.outcome = "passed_on"
        old.note = f"passed on to {task.department.name} when {task.why}"
        old.next_nag_at = None
        timeline.record(
            old.commitment,
            "task_passed_on",
            now,
            handoff=task.handoff,
            about_at=task.due_at,
            why=old.why,
            to=task.department.name,
            **{"from": old.department.name},
        )


def already_told(commitment: Commitment) -> str:
    """What the customer heard so far: the notes of the tasks marked told, oldest first."""
    told = db.session.scalars(
        select(CustomerTask)
        .where(CustomerTask.commitment_id == commitment.id, CustomerTask.outcome == "told")
        .order_by(CustomerTask.closed_at, CustomerTask.id)
    )
    return " · ".join(f"{t.department.name}: “{t.note}”" for t in told)


def open_tasks(commitment: Commitment, but: CustomerTask | None = None) -> list[CustomerTask]:
    """The commitment's tasks to tell the customer that are still open (all `but` one)."""
    query = select(CustomerTask).where(
        CustomerTask.commitment_id == commitment.id, CustomerTask.closed_at.is_(None)
    )
    if but is not None:
        query = query.where(CustomerTask.id != but.id)
    return list(db.session.scalars(query.order_by(CustomerTask.id)))


@dataclass(frozen=True)
class TaskCard:
    """An open task to tell the customer as a list (the inbox) shows it, read as columns."""

    id: int
    commitment: CommitmentRow
    handoff_id: int
    reason: str
    department: Named
    person: Named | None
    from_department: Named | None
    carried: str
    created_at: datetime
    due_at: datetime
    nags_sent: int
    escalated_at: datetime | None
    closed_at = None  # (open)
    closed_by = None
    outcome = None
    note = ""
    is_open = True

    @property
    def department_id(self) -> int:
        return self.department.id

    @property
    def commitment_id(self) -> int:
        return self.commitment.id

    @property
    def why(self) -> str:
        broke = next(h for h in self.commitment.handoffs if h.id == self.handoff_id)
        return reason_text(self.reason, broke.department.name)


# A task's place in the list of customers to tell (soonest deadline first), as a cursor reads it.
TASK_KEY = (datetime, int)


def open_tasks_of_department(
    department_id: int, limit: int = 10, after: str | None = None, before: str | None = None
) -> tuple[Page, int]:
    """A page of the customers this department must tell about a broken promise, soonest
    deadline first (`limit` of them, from the cursor `after` or `before`), and how many there
    are in all: rows of columns, with their commitments as the lists show them."""
    cursor = Cursor.read(after, TASK_KEY) or Cursor.read(before, TASK_KEY, backwards=True)
    keys = (CustomerTask.due_at, CustomerTask.id)
    found, more = fetch_after(
        _open_tasks_statement(),
        keys,
        cursor,
        limit,
        as_rows=True,
        params={"department": department_id},
    )
    page = page_of(found, more, lambda t: (t.due_at, t.id), cursor)
    total = open_tasks_count(department_id)
    if not found:
        return page, total
    commitments = {c.id: c for c in commitment_rows([t.commitment_id for t in found])}
    tasks = [
        TaskCard(
            id=t.id,
            commitment=commitments[t.commitment_id],
            handoff_id=t.handoff_id,
            reason=t.reason,
            department=Named(t.department_id, t.department_name),
            person=Named(t.person_id, t.person_name) if t.person_id else None,
            from_department=(
                Named(t.from_department_id, t.earlier_name) if t.from_department_id else None
            ),
            carried=t.carried,
            created_at=t.created_at,
            due_at=t.due_at,
            nags_sent=t.nags_sent,
            escalated_at=t.escalated_at,
        )
        for t in found
    ]
    page.rows = tasks
    return page, total


def _open_of_department() -> list:
    """The conditions of a department's open tasks (the department a bound parameter)."""
    department = bindparam("department", type_=Integer)
    return [CustomerTask.department_id == department, CustomerTask.closed_at.is_(None)]


@cache
def _open_tasks_statement():
    """open_tasks_of_department's rows, before their order and page: built once, run with
    the department bound (building it cost more than running it)."""
    department, earlier, person = aliases(Department, Department, Person)
    return (
        select(
            CustomerTask.id,
            CustomerTask.commitment_id,
            CustomerTask.handoff_id,
            CustomerTask.reason,
            CustomerTask.department_id,
            department.name.label("department_name"),
            CustomerTask.person_id,
            person.name.label("person_name"),
            CustomerTask.from_department_id,
            earlier.name.label("earlier_name"),
            CustomerTask.carried,
            CustomerTask.created_at,
            CustomerTask.due_at,
            CustomerTask.nags_sent,
            CustomerTask.escalated_at,
        )
        .join(department, department.id == CustomerTask.department_id)
        .outerjoin(person, person.id == CustomerTask.person_id)
        .outerjoin(earlier, earlier.id == CustomerTask.from_department_id)
        .where(*_open_of_department())
    )


def open_tasks_count(department_id: int) -> int:
    """How many customers this department must still tell (the inbox's badge)."""
    return db.session.scalar(_open_tasks_count_statement(), {"department": department_id})


@cache
def _open_tasks_count_statement():
    """How many open tasks a department has: built once, run with the department bound."""
    return select(func.count()).select_from(CustomerTask).where(*_open_of_department())


@dataclass(frozen=True)
class Told:
    """What a customer last heard about a commitment: when, from whom, and the note."""

    at: datetime
    by: str
    department: str
    note: str


def last_told_by_commitment(ids: list[int]) -> dict[int, Told]:
    """For each of these commitments whose customer was told of a broken promise: the latest
    telling (one query), so that the next agent says nothing that contradicts it."""
    if not ids:
        return {}
    department, person = aliases(Department, Person)
    found = db.session.execute(
        select(
            CustomerTask.commitment_id,
            CustomerTask.closed_at,
            person.name,
            department.name,
            CustomerTask.note,
        )
        .join(department, department.id == CustomerTask.department_id)
        .join(person, person.id == CustomerTask.closed_by_id)
        .where(CustomerTask.commitment_id.in_(ids), CustomerTask.outcome == "told")
        .order_by(CustomerTask.closed_at.desc(), CustomerTask.id.desc())
    )
    told: dict[int, Told] = {}
    for commitment_id, at, by, department_name, note in found:
        told.setdefault(commitment_id, Told(at, by, department_name, note))
    return told


def open_task_by_commitment(ids: list[int]) -> dict[int, CustomerTask]:
    """The open task to tell the customer, per commitment (two queries for a page of them),
    with the handoff that broke and its department (why the customer must be told), not the
    people a task names."""
    if not ids:
        return {}
    rows = db.session.scalars(
        select(CustomerTask)
        .where(CustomerTask.commitment_id.in_(ids), CustomerTask.closed_at.is_(None))
        .options(
            lazyload("*"),
            selectinload(CustomerTask.handoff).options(
                lazyload("*"), joinedload(Handoff.department)
            ),
        )
    )
    return {task.commitment_id: task for task in rows}


def tasks_view(tasks, reader: Person, now: datetime, at_risk_within, when) -> dict:
    """What a page shows of each task: what the reader could say to the customer (moments
    written by `when`), and which tasks the reader may mark told."""
    return {
        "say": {
            task.id: customer_sentence(
                task.commitment, task.commitment.status(now, at_risk_within), now, when, task
            )
            for task in tasks
        },
        "tellable": {task.id for task in tasks if may_tell(reader, task)},
    }


def tasks_of(commitment: Commitment) -> list[CustomerTask]:
    """Every task to tell the customer about this commitment, newest first. (Its commitment
    and handoffs are the ones the caller has: not joined in again, with everything they join
    in turn, which took PostgreSQL 5 ms to plan.)"""
    return list(
        db.session.scalars(
            select(CustomerTask)
            .where(CustomerTask.commitment_id == commitment.id)
            .options(lazyload(CustomerTask.commitment), lazyload(CustomerTask.handoff))
            .order_by(CustomerTask.created_at.desc(), CustomerTask.id.desc())
        )
    )


def may_tell(person: Person, task: CustomerTask) -> bool:
    """Members of the department that talks to the customer (and admins) mark it told."""
    return person.belongs_to(task.department_id)


def require_may_tell(person: Person, task: CustomerTask) -> None:
    """NotAllowed unless `person` may mark the task told."""
    if not may_tell(person, task):
        raise NotAllowed(
            f"Only members of {task.department.name}, who talk to the customer, can mark it told."
        )


def mark_told(task: CustomerTask, actor: Person, now: datetime, note: str) -> bool:
    """Someone told the customer; the note says what. Answer whether anything changed."""
    require_may_tell(actor, task)
    note = note.strip()
    if not note:
        raise InvalidInput("Say what the customer was told.")
    task = locked(task)  # two people marking it told at once: the second sees the first
    if task.closed_at is not None:
        if task.outcome == "told" and task.closed_by_id == actor.id and task.note == note:
            return False  # the same report twice: harmless
        if task.outcome == "told":
            raise Conflict(f"{task.closed_by.name} already marked it told: “{task.note}”.")
        raise Conflict(f"This task was {task.note}.")
    task.closed_at = now
    task.closed_by_id = actor.id
    task.outcome = "told"
    task.note = note
    task.next_nag_at = None
    timeline.record(
        task.commitment,
        "told",
        now,
        actor=actor,
        handoff=task.handoff,
        by=actor.name,
        department=task.department.name,
        note=note,
    )
    in_time = now <= task.due_at
    announce(CustomerTold(task.id, task.handoff_id, in_time, now))
    return True


def save_settings(actor: Person, now: datetime, *, owner_moves: bool, tell_minutes: int) -> None:
    """Admins set the rule and the deadline; open tasks keep the deadline they were given."""
    if not actor.is_admin:
        raise NotAllowed("Only admins change the organisation's settings.")
    if tell_minutes < 0:
        raise InvalidInput("The time to tell the customer cannot be negative.")
    settings = OrganisationSettings.current()
    if settings.id is None:
        db.session.add(settings)
    settings.owner_moves = owner_moves
    settings.tell_customer_minutes = tell_minutes
