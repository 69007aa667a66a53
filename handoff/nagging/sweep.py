"""The sweep: one round of nagging. APScheduler only decides when it runs.

`sweep(now)` finds the handoffs whose next reminder is due (one indexed query), locks them
(PostgreSQL: FOR UPDATE SKIP LOCKED, so concurrent sweeps take different rows; SQLite: the
write transaction is BEGIN IMMEDIATE) and decides each on fresh state: a handoff answered a
moment before is not nagged. Each reminder is a row per recipient keyed by (handoff, series,
number, recipient) and inserted so that a second insert of the key does nothing; that
commits. Then the digest step (handoff.nagging.mailing) writes at most one digest per
address, in short transactions of a few addresses each under those addresses' locks, from
the reminders that are still true and whose recipient is in hours. Mail leaves later, from
the outbox.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property

from sqlalchemy import select, text, update
from sqlalchemy.exc import SQLAlchemyError

from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.services import note_late_handoffs
from handoff.departments.models import Department
from handoff.kernel import timeline
from handoff.kernel.db import db, insert_new, skip_locked, writing
from handoff.kernel.events import Escalated, NagRecorded, announce
from handoff.nagging import rules
from handoff.nagging.mailing import write_digests
from handoff.nagging.models import Nag, NagPolicy
from handoff.nagging.notices import People, Recipient, key_of, rows_for
from handoff.nagging.rules import Kind, Level
from handoff.nagging.schedule import PolicyBook, chased_department_id
from handoff.ownership.models import CustomerTask

log = logging.getLogger(__name__)
BATCH = 100  # rows a transaction locks at once: small, so that a stalled sweep blocks little
# Reminder rows a round may add before PostgreSQL's statistics of them are renewed: the
# planner otherwise takes the waiting rows for a handful and reads all of them for each
# address (a round of 10,000 due: 96 ms instead of 18 ms for each twenty addresses).
ANALYZE_AFTER = 10_000
MAX_BATCHES = 100  # a bound, so that no fault can keep one sweep going for ever


@dataclass
class SweepReport:
    reminders: int = 0
    escalations: int = 0
    deferred: int = 0
    skipped: int = 0
    late: int = 0
    tasks: int = 0
    digests: int = 0
    rows: int = 0  # reminder rows recorded (one a recipient)
    recipients: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return (
            f"{self.reminders} reminders ({self.escalations} escalated) and {self.tasks} "
            f"about telling customers to {len(self.recipients)} people, {self.late} handoffs "
            f"newly late, {self.digests} digests written, "
            f"{self.deferred} deferred to business hours, {self.skipped} no longer due"
        )


def sweep(now: datetime) -> SweepReport:
    """Record every reminder due at `now`, and write the digests; safe to run twice or at once."""
    report = SweepReport()
    with writing():
        report.late = note_late_handoffs(now)
        db.session.commit()
        names = RoundNames(now)
        for model, chase in ((Handoff, _nag_one), (CustomerTask, _chase_task)):
            for _ in range(MAX_BATCHES):
                more = _sweep_batch(model, chase, now, report, names)
                db.session.commit()  # each batch its own short transaction: locks held briefly
                if not more:
                    break
    if report.rows >= ANALYZE_AFTER:
        _renew_statistics()
    report.digests = write_digests(now)
    return report


def _renew_statistics() -> None:
    """After a round that recorded many reminders, PostgreSQL's statistics of the reminder
    rows are renewed before the digest step reads them (SQLite plans without them)."""
    if db.engine.dialect.name != "postgresql":
        return
    try:
        with writing():
            db.session.execute(text("ANALYZE nag"))
            db.session.commit()
    except SQLAlchemyError:  # (not the table's owner, say): the digests only take longer
        db.session.rollback()
        log.warning("could not renew the statistics of the reminder rows", exc_info=True)


class RoundNames:
    """Who is in which department, and the departments' names: read once a round, and only
    by a round with something due (rows, which no commit of a batch expires); who is away
    is as at the round's `now`."""

    def __init__(self, now: datetime):
        self.now = now

    @cached_property
    def people(self) -> People:
        return People(self.now)

    @cached_property
    def departments(self) -> dict:
        return {d.id: d for d in db.session.execute(select(Department.id, Department.name))}


def _sweep_batch(model, chase, now: datetime, report: SweepReport, names: RoundNames) -> bool:
    """Chase up to BATCH due rows of `model` (handoffs, or tasks to tell the customer) with
    `chase`; answer whether there may be more."""
    ids = list(
        db.session.scalars(
            skip_locked(
                select(model.id)
                .where(model.next_nag_at <= now)
                .order_by(model.next_nag_at, model.id)
                .limit(BATCH)
            )
        )
    )
    if not ids:
        return False
    if model is Handoff:
        rows = _due_handoffs(ids)
    else:
        rows = db.session.scalars(
            select(model)
            .where(model.id.in_(ids))
            .order_by(model.next_nag_at, model.id)
            .execution_options(populate_existing=True)
        ).all()
    book = PolicyBook(now, everyone=True)
    organisation = NagPolicy.organisation()
    progressed = False
    reminders: list[Reminder] = []
    with db.session.no_autoflush:  # (what the batch changes is written once, at its end)
        for row in rows:
            decided = chase(row, now, book, names.people, names.departments, organisation, report)
            if isinstance(decided, Reminder):
                reminders.append(decided)
            else:
                progressed |= decided
        # every reminder of the batch in one insert; what a reminder sets off happens only
        # if its rows were new (none was: another sweep recorded this very reminder)
        rows_written = [r for reminder in reminders for r in reminder.rows]
        written = insert_new(Nag, rows_written, reminders[0].key) if rows_written else set()
        report.rows += len(written)
        entries = []
        for reminder in reminders:
            if all(reminder.row_key(r) in written for r in reminder.rows):
                entries += reminder.then()
                progressed = True
            else:
                report.skipped += 1
        timeline.record_all(entries)
    if model is Handoff:
        _write_schedules(rows)
    db.session.flush()
    return progressed and len(ids) == BATCH


@dataclass
class DueCommitment:
    """What a sweep reads of a due handoff's commitment."""

    cancelled_at: datetime | None
    owner_department_id: int
    customer_owner_department_id: int


@dataclass
class DueHandoff:
    """A due handoff as the sweep decides it: the columns the nag rules read (its
    commitment's among them), and its schedule, which the sweep moves on and writes back for
    a whole batch in one statement. (Read and written as columns: as entities, loading them
    and flushing what changed cost more than deciding them.)"""

    id: int
    commitment_id: int
    department_id: int
    owner_department_id: int
    state: str
    due_at: datetime
    changed_at: datetime
    commitment: DueCommitment
    # the schedule (SCHEDULE)
    next_nag_at: datetime | None
    next_nag_kind: str | None
    nag_series: int
    nag_count: int
    nags_total: int
    first_nagged_at: datetime | None
    last_nagged_at: datetime | None
    escalated_at: datetime | None


SCHEDULE = (
    "next_nag_at",
    "next_nag_kind",
    "nag_count",
    "nags_total",
    "first_nagged_at",
    "last_nagged_at",
    "escalated_at",
)


def _due_handoffs(ids: list[int]) -> list[DueHandoff]:
    """The due handoffs with these ids (locked by the caller), read fresh, in due order."""
    found = db.session.execute(
        select(
            Handoff.id,
            Handoff.commitment_id,
            Handoff.department_id,
            Handoff.owner_department_id,
            Handoff.state,
            Handoff.due_at,
            Handoff.changed_at,
            Commitment.cancelled_at,
            Commitment.owner_department_id.label("commitment_owner_id"),
            Commitment.customer_owner_department_id,
            *(getattr(Handoff, name) for name in ("nag_series", *SCHEDULE)),
        )
        .join(Commitment, Commitment.id == Handoff.commitment_id)
        .where(Handoff.id.in_(ids))
        .order_by(Handoff.next_nag_at, Handoff.id)
    )
    return [
        DueHandoff(
            id=row.id,
            commitment_id=row.commitment_id,
            department_id=row.department_id,
            owner_department_id=row.owner_department_id,
            state=row.state,
            due_at=row.due_at,
            changed_at=row.changed_at,
            commitment=DueCommitment(
                row.cancelled_at, row.commitment_owner_id, row.customer_owner_department_id
            ),
            nag_series=row.nag_series,
            **{name: getattr(row, name) for name in SCHEDULE},
        )
        for row in found
    ]


def _write_schedules(handoffs: list[DueHandoff]) -> None:
    """Each handoff's schedule as the batch left it, in one statement (by primary key). (A
    reaction to NagRecorded or Escalated that changed a handoff's schedule would be written
    over here: the schedule is the sweep's to move.)"""
    if handoffs:
        db.session.execute(
            update(Handoff),
            [{"id": h.id, **{name: getattr(h, name) for name in SCHEDULE}} for h in handoffs],
        )


@dataclass
class Reminder:
    """A reminder decided for one row: its nag rows, and what recording it sets off."""

    rows: list[dict]
    key: list[str]
    then: Callable[[], list[dict]]  # answers the timeline entries it makes

    def row_key(self, row: dict) -> tuple:
        return tuple(row.get(name, 0) for name in self.key)


def _nag_one(handoff, now, book, people, departments, organisation, report) -> bool:
    """Decide one due handoff on its fresh state; answer whether its schedule moved on."""
    policy = book.rules(chased_department_id(handoff))
    kind = rules.kind_for(handoff.state, handoff.due_at, now)
    if kind is None or handoff.commitment.cancelled_at is not None:
        handoff.next_nag_at = handoff.next_nag_kind = None
        report.skipped += 1
        return True
    planned = handoff.next_nag_kind
    if not (planned == kind or (planned == Kind.DUE_SOON and kind == Kind.LATE)):
        # planned under another state, or never planned: plan from when the state began
        replanned = rules.first(
            handoff.state, since=handoff.changed_at, due_at=handoff.due_at, policy=policy
        )
        handoff.next_nag_at, handoff.next_nag_kind = replanned.at, replanned.kind
        if replanned.at > now:
            return True
    if not policy.hours.is_open(now):
        handoff.next_nag_at = policy.hours.next_open(now)  # deferred, never dropped
        report.deferred += 1
        return True

    number = handoff.nag_count + 1
    level = rules.level(number, policy)
    recipients, problem = _recipients(
        _targets(handoff, kind),
        chased_department_id(handoff),
        level,
        people,
        departments,
        organisation,
        book,
        now,
    )
    about = {"handoff_id": handoff.id, "series": handoff.nag_series}

    def recorded() -> list[dict]:
        entries = _timeline(
            handoff, kind, number, level, policy, recipients, problem, departments, now
        )
        chased = chased_department_id(handoff)
        reached = (handoff.commitment_id, handoff.id, None, chased)
        _announce(*reached, kind, number, level, rules.level(number - 1, policy), recipients, now)
        handoff.nag_count = number
        handoff.nags_total = (handoff.nags_total or 0) + 1
        handoff.first_nagged_at = handoff.first_nagged_at or now
        handoff.last_nagged_at = now
        if level > Level.DEPARTMENT:
            handoff.escalated_at = handoff.escalated_at or now
            report.escalations += 1
        following = rules.after(kind, sent_at=now, due_at=handoff.due_at, policy=policy)
        handoff.next_nag_at, handoff.next_nag_kind = following.at, following.kind
        report.reminders += 1
        report.recipients.update(r.email for r in recipients)
        return entries

    rows = rows_for(about, kind, number, level, recipients, now)
    return Reminder(rows, key_of(about), recorded)


def _chase_task(task, now, book, people, departments, organisation, report) -> bool:
    """The notice (number 0), then reminders from the deadline on, until it is marked told."""
    if task.closed_at is not None:
        task.next_nag_at = None
        report.skipped += 1
        return True
    policy = book.rules(task.department_id)
    if not policy.hours.is_open(now):
        task.next_nag_at = policy.hours.next_open(now)
        report.deferred += 1
        return True
    number = task.nags_sent
    level = rules.level(number, policy)
    recipients, problem = _recipients(
        [task.department_id],
        task.department_id,
        level,
        people,
        departments,
        organisation,
        book,
        now,
    )
    about = {"task_id": task.id}

    def recorded() -> list[dict]:
        name = departments[task.department_id].name
        addresses = _emails(recipients)
        entries = [{"what": "tell", "number": number, "department": name, "addresses": addresses}]
        if number > 0 and level > rules.level(number - 1, policy):
            entries.append({"what": "escalated", "department": name, "level": int(level)})
        if problem and number in (0, 1):
            entries.append({"what": "problem", "problem": problem})
        written = _on_timeline(task.commitment_id, task.handoff_id, entries, now)
        earlier = rules.level(number - 1, policy) if number > 0 else level
        reached = (task.commitment_id, task.handoff_id, task.id, task.department_id)
        _announce(*reached, Kind.TELL, number, level, earlier, recipients, now)
        task.nags_sent = number + 1
        task.last_nagged_at = now
        if level > Level.DEPARTMENT:
            task.escalated_at = task.escalated_at or now
            report.escalations += 1
        task.next_nag_at = rules.after_tell(number, sent_at=now, due_at=task.due_at, policy=policy)
        report.tasks += 1
        report.recipients.update(r.email for r in recipients)
        return written

    rows = rows_for(about, Kind.TELL, number, level, recipients, now)
    return Reminder(rows, key_of(about), recorded)


def _targets(handoff, kind: Kind) -> list[int]:
    """The departments a reminder of `kind` is for."""
    commitment = handoff.commitment
    if kind == Kind.SETTLE:
        return [commitment.owner_department_id]
    if kind == Kind.LATE and commitment.customer_owner_department_id != handoff.department_id:
        return [handoff.department_id, commitment.customer_owner_department_id]
    return [handoff.department_id]


def _recipients(targets, chased, level, people, departments, organisation, book, now):
    """Who gets a reminder for the `targets` departments, and a problem when there is nobody.

    Each recipient is reached in the hours of the department they hear as (the customer
    owner of late work in its own hours, whenever those are); the organisation's escalation
    contact in the organisation's hours. The digest step holds a reminder until then.
    """
    chosen: dict[str, Recipient] = {}
    problems = []
    nobody_chased = False

    def add(persons, department_id):
        for person in persons:
            chosen.setdefault(
                person.email, Recipient(person.email, person.name, person.id, department_id)
            )

    for department_id in targets:
        members, leads = people.members[department_id], people.leads[department_id]
        name = departments[department_id].name
        add(members, department_id)
        if level >= Level.LEADS or not members:
            add(leads, department_id)
        if department_id != chased:
            continue  # a department told besides the chased one is no staffing problem of it
        if not members and not leads:
            nobody_chased = True
            problems.append(f"nobody in {name} can receive reminders")
        elif not members:
            problems.append(f"{name} has no members to remind, only its leads")
    wanted = level >= Level.ORGANISATION or nobody_chased or not chosen
    if wanted and organisation.escalation_email:
        contact = organisation.escalation_email
        chosen.setdefault(
            contact,
            Recipient(contact, organisation.escalation_name or "Escalation contact", None, None),
        )
    if not chosen:
        problems.append("and no organisation escalation contact is set")
    return list(chosen.values()), "; ".join(problems)


def _timeline(
    handoff, kind, number, level, policy, recipients, problem, departments, now
) -> list[dict]:
    """'Reminder 2 to Installation — ana@…, bo@…', and an entry when it escalates."""
    department = departments[handoff.department_id].name
    owner = departments[handoff.commitment.owner_department_id].name
    chased = owner if kind == Kind.SETTLE else department
    entries = [
        {
            "what": "reminder",
            "reminder": Kind(kind).value,
            "number": number,
            "department": chased,
            "addresses": _emails(recipients),
        }
    ]
    if level > rules.level(number - 1, policy):  # this reminder reached a new level
        entries.append({"what": "escalated", "department": chased, "level": int(level)})
    if problem and (number == 1 or level > rules.level(number - 1, policy)):
        entries.append({"what": "problem", "problem": problem})  # once a series, and escalated
    return _on_timeline(handoff.commitment_id, handoff.id, entries, now)


def _announce(
    commitment_id, handoff_id, task_id, department_id, kind, number, level, earlier, recipients, now
) -> None:
    """Say that a reminder was recorded, and that it escalated if it reached a new level."""
    about = {"commitment_id": commitment_id, "handoff_id": handoff_id, "task_id": task_id}
    emails = tuple(_emails(recipients))
    announce(
        NagRecorded(
            **about,
            kind=Kind(kind).value,
            number=number,
            level=int(level),
            recipients=emails,
            at=now,
        )
    )
    if level > earlier:
        announce(Escalated(**about, department_id=department_id, level=int(level), at=now))


def _emails(recipients) -> list[str]:
    return [r.email for r in recipients]


def _on_timeline(commitment_id: int, handoff_id: int, entries: list[dict], now) -> list[dict]:
    """The timeline entries of what a reminder did (the batch writes them at once)."""
    return [timeline.entry(commitment_id, "nag", now, handoff=handoff_id, **f) for f in entries]
