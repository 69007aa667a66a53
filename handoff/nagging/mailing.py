"""The digest step: what leaves as mail is decided once per address, on fresh state.

Recording a reminder (handoff.nagging.notices) and mailing it are two steps. For each
address with reminders waiting, one sweep at a time takes the address's mailbox row (on
PostgreSQL `FOR UPDATE SKIP LOCKED`: a second sweeper skips the address this round instead
of writing a second mail) and decides, in one short transaction with up to
DIGESTS_PER_TRANSACTION other addresses (each kind of row read once for them all):

- every waiting reminder is read again, with what it is about under a row lock: one that is
  no longer true (answered, told, cancelled, no longer due soon) is dropped, with a note on
  the timeline, and never mailed;
- one whose recipient is out of hours (the hours of the department they hear as, or the
  organisation's for its escalation contact) waits for those hours to open;
- a digest is written only when something in it is new for the person (a first reminder, a
  new level, a new kind, news), or when reminders held for this moment come due: a repeat
  of what the person was already mailed waits for the start of their next business day,
  and so does everything for a person who chose one morning digest, or who had their
  daily cap of digests;
- at most one digest per address within DIGEST_MIN_MINUTES.

Whatever is held is decided again when it comes due. The dispatcher asks `vet_message`
just before a digest leaves, so a digest that waited in the outbox (the mail server was
down) and is no longer true, or would arrive out of hours, is withdrawn and its reminders
go back to wait. A digest that cannot be written is kept as a failed message with the
reason; the other addresses of the round go on.
"""

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from functools import cache

from flask import current_app
from sqlalchemy import bindparam, exists, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment, Handoff
from handoff.departments.away import Presence
from handoff.departments.business_time import BusinessHours
from handoff.departments.hours import hours_of
from handoff.kernel import timeline
from handoff.kernel.db import db, insert_ignore, lock_keys, lock_row, skip_locked, writing
from handoff.mail import FAILED, PENDING, WITHDRAWN, OutboxMessage, smtp_configured
from handoff.nagging import rules
from handoff.nagging.digest import compose_digest
from handoff.nagging.models import Mailbox, Nag
from handoff.nagging.rules import Kind
from handoff.nagging.schedule import PolicyBook
from handoff.ownership.models import CustomerTask

log = logging.getLogger(__name__)
MORNING = time(8, 0)  # when the day's digest leaves for hours that never close


class Hours:
    """Business hours looked up once each: a department's, or the organisation's (None)."""

    def __init__(self, now: datetime):
        self.book = PolicyBook(now)
        self.now = now
        self._organisation: BusinessHours | None = None

    def of(self, department_id: int | None) -> BusinessHours:
        if department_id is not None:
            return self.book.rules(department_id).hours
        if self._organisation is None:
            self._organisation = hours_of(None, self.now.year)
        return self._organisation


def next_morning(hours: BusinessHours, moment: datetime) -> datetime:
    """When the next business day begins after `moment`: its first opening later than now
    (the first 08:00 local after it, for hours that never close)."""
    if hours.always_open:
        local = moment.astimezone(hours.zone)
        day = local.date() if local.time() < MORNING else local.date() + timedelta(days=1)
        return datetime.combine(day, MORNING, tzinfo=hours.zone).astimezone(UTC)
    for opens, _closes in hours._windows_from(moment):
        if opens > moment:
            return opens
    raise AssertionError("unreachable")  # _windows_from raises first


# The columns of a reminder row the digest step reads; the last four are what it changes.
COLUMNS = (
    "id",
    "handoff_id",
    "task_id",
    "series",
    "number",
    "kind",
    "level",
    "recipient_email",
    "recipient_name",
    "person_id",
    "via_department_id",
    "created_at",
    "mail_after",
    "message_id",
    "dropped_at",
    "drop_reason",
)
CHANGING = COLUMNS[-4:]


class Reminder:
    """A reminder row as the digest step decides it: its columns as plain attributes, read
    under the address's mailbox lock, and whether the step changed it. (Read and written as
    columns: as objects of the session, loading a round's tens of thousands of rows, watching
    them for changes and expiring them at each commit cost more than deciding them.) What
    changed is written back by `_save`."""

    __slots__ = (*COLUMNS, "changed")

    def __init__(self, row):
        for name, value in zip(COLUMNS, row, strict=True):
            setattr(self, name, value)
        self.changed = False

    def set(self, **values) -> None:
        for name, value in values.items():
            setattr(self, name, value)
        self.changed = True


def _reminders(*conditions) -> list[Reminder]:
    """The reminder rows that meet these conditions, oldest first."""
    query = select(*(getattr(Nag, name) for name in COLUMNS)).where(*conditions).order_by(Nag.id)
    return [Reminder(row) for row in db.session.execute(query)]


@cache
def _saving():
    """The statement `_save` runs for each changed reminder (built once)."""
    table = Nag.__table__
    return (
        table.update()
        .where(table.c.id == bindparam("reminder"))
        .values({name: bindparam(f"new_{name}") for name in CHANGING})
    )


def _save(reminders) -> None:
    """Write what the digest step changed of these reminders (one statement, a row each)."""
    changed = [r for r in reminders if r.changed]
    if not changed:
        return
    db.session.execute(
        _saving(),
        [
            {"reminder": r.id, **{f"new_{name}": getattr(r, name) for name in CHANGING}}
            for r in changed
        ],
    )
    for reminder in changed:
        reminder.changed = False


class Facts:
    """What waiting reminders are about, read again under row locks (handoffs, then tasks):
    the few columns that decide whether each is still true, as plain rows, so that a person
    with hundreds of reminders waiting costs two reads, not hundreds of objects."""

    def __init__(self, nags: list[Reminder]):
        task_ids = sorted({n.task_id for n in nags if n.task_id})
        handoff_ids = {n.handoff_id for n in nags if n.handoff_id}
        if task_ids:  # the handoff a task is about never changes: read it without a lock
            handoff_ids |= set(
                db.session.scalars(
                    select(CustomerTask.handoff_id).where(CustomerTask.id.in_(task_ids))
                )
            )
        # Handoffs first, then tasks: the order the answer verbs lock them in, so that the
        # digest step and an answer never wait on each other in a circle.
        lock_keys(Handoff, handoff_ids)
        self.handoffs = _rows_by_id(
            select(
                Handoff.id,
                Handoff.commitment_id,
                Handoff.state,
                Handoff.nag_series,
                Handoff.due_at,
                Commitment.cancelled_at,
            ).join(Commitment, Commitment.id == Handoff.commitment_id),
            Handoff.id,
            handoff_ids,
        )
        lock_keys(CustomerTask, task_ids)
        self.tasks = _rows_by_id(
            select(
                CustomerTask.id,
                CustomerTask.commitment_id,
                CustomerTask.handoff_id,
                CustomerTask.closed_at,
                CustomerTask.outcome,
                CustomerTask.due_at,
                Commitment.cancelled_at,
                Commitment.customer_owner_department_id,
            ).join(Commitment, Commitment.id == CustomerTask.commitment_id),
            CustomerTask.id,
            task_ids,
        )

    def about(self, nag: Reminder):
        """The row a reminder is about: its task's, or its handoff's."""
        return self.tasks[nag.task_id] if nag.task_id is not None else self.handoffs[nag.handoff_id]

    def away_at(self, now: datetime) -> frozenset[int]:
        """The people away at `now` (read once): what waits for them is not mailed; their
        delegate hears of it from the sweep's next reminder."""
        if getattr(self, "_away", None) is None or self._away[0] != now:
            self._away = (now, frozenset(Presence.at(now).away))
        return self._away[1]

    def stale(self, nag: Reminder, now: datetime) -> str | None:
        """Why the reminder is no longer true at `now`, or None while it is."""
        if nag.person_id is not None and nag.person_id in self.away_at(now):
            return "they are away"
        if nag.task_id is not None:
            task = self.tasks[nag.task_id]
            if nag.kind == Kind.HANDOVER:
                if task.cancelled_at is not None:
                    return "the commitment was cancelled"
                if task.customer_owner_department_id == nag.via_department_id:
                    return "it talks to the customer again"
                return None
            if task.closed_at is not None:
                return "the customer was told" if task.outcome == "told" else "it was passed on"
            return None
        handoff = self.handoffs[nag.handoff_id]
        if handoff.cancelled_at is not None:
            return "the commitment was cancelled"
        if handoff.nag_series != nag.series:
            return f"it is {handoff.state} now"
        if nag.kind == Kind.FYI:
            return None
        wanted = rules.kind_for(handoff.state, handoff.due_at, now)
        if wanted != Kind(nag.kind):
            return "it is past its due time now" if wanted == Kind.LATE else "it changed"
        return None


def _rows_by_id(query, key, ids) -> dict:
    rows = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):  # bounded IN lists
        chunk = ordered[start : start + 500]
        rows.update((row.id, row) for row in db.session.execute(query.where(key.in_(chunk))))
    return rows


def _topic(nag: Reminder) -> tuple:
    """What a reminder tells its recipient; another reminder of the same topic is a repeat."""
    notice = nag.task_id is not None and nag.number == 0
    return (nag.handoff_id, nag.task_id, nag.series, nag.kind, nag.level, notice)


def _mailed_topics(drafts: list["Draft"]) -> dict[str, set[tuple]]:
    """For each draft's address, the topics of its due reminders that it was mailed before.

    Read as distinct topics, not as reminders: a handoff late for weeks has been reminded
    dozens of times, and what matters is only whether its topic ever left. Read for all the
    addresses of a transaction at once, through the keys the rows lead with: a handoff's
    reminders by the unique key (handoff, series, number, recipient), so that each handoff's
    rows are read once for the addresses together, and a task's by (recipient, task). (An
    index of (recipient, handoff) written with every reminder row doubled what recording a
    round's reminders cost.)
    """
    addresses = sorted({d.address for d in drafts})
    handoff_ids = sorted({n.handoff_id for d in drafts for n in d.due if n.handoff_id})
    task_ids = sorted({n.task_id for d in drafts for n in d.due if n.task_id})
    topics: dict[str, set[tuple]] = defaultdict(set)
    for about, ids in (("handoff", handoff_ids), ("task", task_ids)):
        for start in range(0, len(ids), 500):  # bounded IN lists
            rows = db.session.execute(
                _earlier_topics(about), {"addresses": addresses, "ids": ids[start : start + 500]}
            )
            for address, handoff_id, task_id, series, kind, level, is_notice in rows:
                topics[address].add((handoff_id, task_id, series, kind, level, bool(is_notice)))
    return topics


@cache
def _earlier_topics(about: str):
    """The statement of `_mailed_topics`, about handoffs or tasks: built once, run with the
    addresses and the ids bound."""
    notice = (Nag.task_id.is_not(None)) & (Nag.number == 0)  # _topic's `notice`, in SQL
    column = Nag.handoff_id if about == "handoff" else Nag.task_id
    return (
        select(
            Nag.recipient_email,
            Nag.handoff_id,
            Nag.task_id,
            Nag.series,
            Nag.kind,
            Nag.level,
            notice,
        )
        .join(OutboxMessage, OutboxMessage.id == Nag.message_id)
        .where(
            column.in_(bindparam("ids", expanding=True)),
            Nag.recipient_email.in_(bindparam("addresses", expanding=True)),
            OutboxMessage.status.not_in([FAILED, WITHDRAWN]),
        )
        .distinct()
    )


DIGESTS_PER_TRANSACTION = 20  # addresses decided together: one read of each kind for them all


def write_digests(now: datetime) -> int:
    """Write at most one digest for each address with reminders due; answer how many."""
    # the people of one department side by side: their digests carry the same reminders'
    # neighbours, so a transaction of them writes each page of reminders once
    addresses = list(
        db.session.scalars(
            select(Nag.recipient_email)
            .where(Nag.mail_after <= now)
            .group_by(Nag.recipient_email)
            .order_by(func.min(Nag.via_department_id), Nag.recipient_email)
        )
    )
    missing = sorted(set(addresses) - _mailboxes_of(addresses))
    db.session.rollback()  # end the read: addresses are decided in short transactions
    if missing:
        # every mailbox row is there before any is claimed: made in address order and
        # committed at once, so that claiming one only ever skips what another sweep holds
        # (an insert would wait for another sweep's uncommitted insert of the same address)
        with writing():
            insert_ignore(Mailbox, [{"address": a} for a in missing], key=["address"])
            db.session.commit()
    hours = Hours(now)
    written = 0
    for start in range(0, len(addresses), DIGESTS_PER_TRANSACTION):
        group = addresses[start : start + DIGESTS_PER_TRANSACTION]
        try:
            with writing():
                count = _digests_for(group, now, hours)
                db.session.commit()
            written += count
        except OperationalError as error:
            db.session.rollback()
            if db.engine.dialect.name == "postgresql":
                # a row lock held too long by someone else: the others of the group need
                # not wait for it (each address alone; the one waiting goes next round)
                written += sum(_digest_alone(address, now, hours) for address in group)
            else:  # SQLite's lock is the whole database's: each alone would wait as long
                log.warning("digests to %s left for the next round: %s", group, error.orig)
        except Exception:
            db.session.rollback()
            # one address at a time, so that one digest that cannot be written (kept as a
            # failed message) holds back none of the others
            written += sum(_digest_alone(address, now, hours) for address in group)
    return written


def _digest_alone(address: str, now: datetime, hours: Hours) -> int:
    try:
        with writing():
            count = _digests_for([address], now, hours)
            db.session.commit()
        return count
    except OperationalError as error:
        db.session.rollback()
        log.warning("digest to %s left for the next round: %s", address, error.orig)
    except Exception as error:
        db.session.rollback()
        log.exception("could not write the digest to %s", address)
        _keep_failure(address, now, error)
    return 0


def _claim_mailbox(address: str) -> Mailbox | None:
    """Take the address's mailbox row for this transaction; None if another sweep has it."""
    insert_ignore(Mailbox, [{"address": address}], key=["address"])
    return _claim_mailboxes([address]).get(address)


def _mailboxes_of(addresses: list[str]) -> set[str]:
    """Which of these addresses have a mailbox row."""
    found = set()
    for start in range(0, len(addresses), 500):  # bounded IN lists
        chunk = addresses[start : start + 500]
        found |= set(db.session.scalars(select(Mailbox.address).where(Mailbox.address.in_(chunk))))
    return found


def _claim_mailboxes(addresses: list[str]) -> dict[str, Mailbox]:
    """Take these addresses' mailbox rows for this transaction, by address; an address whose
    row another sweep holds is left out (that sweep decides its mail this round), and so is
    one without a row (write_digests makes them first)."""
    boxes = db.session.scalars(
        skip_locked(
            select(Mailbox).where(Mailbox.address.in_(addresses)).order_by(Mailbox.address)
        ).execution_options(populate_existing=True)
    )
    return {box.address: box for box in boxes}


def _waiting(addresses: list[str]) -> dict[str, list[Reminder]]:
    """Every reminder waiting for each of these addresses, oldest first."""
    waiting: dict[str, list[Reminder]] = {address: [] for address in addresses}
    for nag in _reminders(Nag.recipient_email.in_(addresses), Nag.mail_after.is_not(None)):
        waiting[nag.recipient_email].append(nag)
    return waiting


@dataclass
class Draft:
    """One address's digest while it is being decided."""

    address: str
    box: Mailbox
    open_now: list[Reminder]  # every reminder whose recipient is in hours: a digest carries all
    due: list[Reminder]  # those of them due now
    reasons: list[Reminder] = field(default_factory=list)  # what makes a mail worth sending now
    person: Person | None = None  # whose address it is, when it is a person's


def _digests_for(addresses: list[str], now: datetime, hours: Hours) -> int:
    """Decide these addresses' digests at `now` and write those that are due; answer how many.

    The cheap questions come first (anything due, in hours, new, throttled), so that what
    the reminders are about is read, under lock, only for the addresses that may get mail,
    and then once for them all, as are their people.
    """
    boxes = _claim_mailboxes(addresses)
    waiting = _waiting(sorted(boxes))
    written = _decide(boxes, waiting, now, hours)
    _save(n for nags in waiting.values() for n in nags)  # what was held or dropped
    return written


def _decide(boxes: dict, waiting: dict, now: datetime, hours: Hours) -> int:
    """The digests of these mailboxes' addresses, from the reminders waiting for them."""
    drafts = []
    for address, box in boxes.items():
        nags = waiting[address]
        if nags and smtp_configured():
            nags += _fold_unsent(address, now)
        draft = _due_now(address, box, nags, now, hours)
        if draft is not None:
            drafts.append(draft)
    if not drafts:
        return 0
    person_ids = {d.due[0].person_id for d in drafts} - {None}
    people = {
        p.id: p
        for p in db.session.scalars(
            # (their memberships too: who may answer what, asked of every digest's items)
            select(Person)
            .where(Person.id.in_(person_ids))
            .options(selectinload(Person.memberships))
        )
    }
    for draft in drafts:
        draft.person = people.get(draft.due[0].person_id)
    mailed = _mailed_topics(drafts)
    drafts = [d for d in drafts if _worth_a_mail(d, mailed[d.address], now, hours)]
    if not drafts:
        return 0
    facts = Facts([n for d in drafts for n in d.open_now])  # locks, in one order for all
    cards: dict = {}  # the handoffs the digests show, read once for them all
    return sum(_write(d, facts, cards, now, hours) for d in drafts)


def _due_now(address, box, nags: list[Reminder], now: datetime, hours: Hours) -> Draft | None:
    """The reminders in hours and those of them due; None when nothing is due now."""
    open_now = []
    for nag in nags:
        opening = hours.of(nag.via_department_id)
        if opening.is_open(now):
            open_now.append(nag)
        elif nag.mail_after <= now:
            nag.set(mail_after=opening.next_open(now))  # held for the recipient's hours
    due = [n for n in open_now if n.mail_after <= now]
    return Draft(address, box, open_now, due) if due else None


def _worth_a_mail(draft: Draft, mailed: set[tuple], now: datetime, hours: Hours) -> bool:
    """Whether something due is worth a mail now: news for the person, or held for this
    moment, and the address not throttled. What is not waits for its moment."""
    person = draft.person
    morning_only = person is not None and person.digest_mode == "morning"
    for nag in draft.due:
        came_due = nag.mail_after > nag.created_at  # it was held for this moment
        new = _topic(nag) not in mailed
        if came_due or (new and not morning_only):
            draft.reasons.append(nag)
        else:  # a repeat of what the person has, or a person who reads one digest a day
            nag.set(mail_after=next_morning(hours.of(nag.via_department_id), now))
    if not draft.reasons:
        return False
    box = draft.box
    gap = timedelta(minutes=current_app.config["DIGEST_MIN_MINUTES"])
    if gap and box.last_digest_at and box.last_digest_at > now - gap:
        for nag in draft.reasons:  # what is new waits for the throttle, then goes
            nag.set(mail_after=box.last_digest_at + gap)
        return False
    return True


def _write(draft: Draft, facts: "Facts", cards: dict, now: datetime, hours: Hours) -> int:
    """Drop what is no longer true, and write the digest if it is still worth one and the
    address has not had its day's digests; answer 1 or 0."""
    box = draft.box
    open_now = _drop_stale(draft.open_now, facts, now)
    reasons = [n for n in draft.reasons if n.dropped_at is None]
    if not reasons:
        return 0  # what was new is no longer true; the repeats wait for their morning
    # the day is counted where the mornings are, so that the cap and the morning agree
    day = now.astimezone(hours.of(reasons[0].via_department_id).zone).date().isoformat()
    sent_today = box.digests_that_day if box.day == day else 0
    cap = current_app.config["DIGEST_DAILY_CAP"]
    if cap and sent_today >= cap:
        for nag in reasons:
            nag.set(mail_after=next_morning(hours.of(nag.via_department_id), now))
        return 0
    message = compose_digest(draft.address, open_now, facts, now, cards, draft.person)
    _mark_carried(open_now, message.id)
    box.last_digest_at = now
    box.day = day
    box.digests_that_day = sent_today + 1
    return 1


def _mark_carried(nags: list[Reminder], message_id: int) -> None:
    """Mark the reminders a digest carries, in one statement (whatever else was decided of
    them before, a hold for a later moment, is overtaken: they leave now)."""
    carried = sorted(n.id for n in nags)
    table = Nag.__table__
    for start in range(0, len(carried), 500):
        db.session.execute(
            table.update()
            .where(table.c.id.in_(carried[start : start + 500]))
            .values(message_id=message_id, mail_after=None)
        )
    for nag in nags:
        nag.message_id, nag.mail_after, nag.changed = message_id, None, False


def _fold_unsent(address: str, now: datetime) -> list[Reminder]:
    """Digests to this address still waiting in the outbox (the mail server was down) are
    withdrawn and their reminders go into the next one: after an outage, one digest, not a
    burst. Answer those reminders, waiting again. Other mail to the address (a weekly
    report, the answer to a reply, a webhook's pause) is no digest and waits its turn."""
    is_digest = exists().where(Nag.message_id == OutboxMessage.id)
    unsent = list(
        db.session.scalars(
            skip_locked(
                select(OutboxMessage).where(
                    OutboxMessage.to_address == address,
                    OutboxMessage.status == PENDING,
                    is_digest,
                )
            )
        )
    )
    if not unsent:
        return []
    folded = _reminders(Nag.message_id.in_([m.id for m in unsent]))
    for message in unsent:
        message.status = WITHDRAWN
        message.last_error = "folded into a newer digest before it could leave"
    for nag in folded:
        nag.set(message_id=None, mail_after=now)
    _save(folded)  # (before anything reads what the address was mailed)
    return folded


def _drop_stale(nags: list[Reminder], facts: Facts, now: datetime) -> list[Reminder]:
    """Drop the reminders that are no longer true, noting it on the timeline; answer the rest."""
    kept = []
    dropped = defaultdict(list)
    for nag in nags:
        reason = facts.stale(nag, now)
        if reason is None:
            kept.append(nag)
            continue
        nag.set(mail_after=None, message_id=None, dropped_at=now, drop_reason=reason[:200])
        dropped[(nag.handoff_id, nag.task_id, nag.kind, nag.number, reason)].append(nag)
    for (handoff_id, task_id, kind, number, reason), group in dropped.items():
        if task_id is not None:
            task = facts.tasks[task_id]
            commitment_id, handoff_id = task.commitment_id, task.handoff_id
        else:
            commitment_id = facts.handoffs[handoff_id].commitment_id
        timeline.record(
            commitment_id,
            "nag",
            now,
            handoff=handoff_id,
            what="not_mailed",
            reminder=kind,
            number=number,
            addresses=sorted(n.recipient_email for n in group),
            reason=reason,
        )
    return kept


def _keep_failure(address: str, now: datetime, error: Exception) -> None:
    """Keep a digest that could not be written as a failed message with the reason; its
    reminders go with it, so that they are not tried again every round. Retrying it puts
    them back to wait, and the next round writes the digest again."""
    try:
        with writing():
            if _claim_mailbox(address) is None:
                return  # another sweep holds the address: it decides these reminders
            message = OutboxMessage(
                message_id=f"<unwritten-{now.timestamp():.0f}-{address}>"[:255],
                to_address=address,
                subject="[Handoff] A digest that could not be written",
                body_text="",
                body_html="",  # no body: the dispatcher writes it again instead of sending
                status=FAILED,
                attempts=1,
                next_attempt_at=now,
                failed_at=now,
                last_error=f"could not write the digest: {error!r}"[:2000],
                created_at=now,
            )
            db.session.add(message)
            db.session.flush()
            for nag in db.session.scalars(
                select(Nag).where(
                    Nag.recipient_email == address,
                    Nag.mail_after <= now,
                    Nag.message_id.is_(None),
                )
            ):
                nag.message_id = message.id
                nag.mail_after = None
            db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("could not keep the failed digest to %s", address)


def vet_message(message: OutboxMessage, now: datetime) -> str | None:
    """Just before a digest leaves: None if every reminder in it is still true and its
    recipient in hours; otherwise why it is withdrawn. Its reminders then wait again (or
    are dropped) and the next round writes what is still true."""
    if not db.session.scalar(select(Nag.id).where(Nag.message_id == message.id).limit(1)):
        return None  # not a digest of reminders
    lock_row(Mailbox, message.to_address)
    nags = _reminders(Nag.message_id == message.id)  # (read again under the lock)
    verdict = _vet(message, nags, now)
    _save(nags)
    return verdict


def _vet(message: OutboxMessage, nags: list[Reminder], now: datetime) -> str | None:
    if not message.body_html:
        for nag in nags:
            nag.set(message_id=None, mail_after=now)
        return "written again from its reminders in the next round"
    facts = Facts(nags)
    hours = Hours(now)
    ready = _drop_stale(nags, facts, now)
    closed = [n for n in ready if not hours.of(n.via_department_id).is_open(now)]
    if len(ready) == len(nags) and not closed:
        return None
    for nag in ready:
        opening = hours.of(nag.via_department_id)
        nag.set(message_id=None, mail_after=now if opening.is_open(now) else opening.next_open(now))
    if closed:
        return "its recipient's hours had closed before it could leave; it waits for them"
    return "part of it was no longer true when it could leave; the rest is mailed again"
