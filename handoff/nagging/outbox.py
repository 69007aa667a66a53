"""The outbox as admins read it: a page at a time, newest first, of one status or all, found
by recipient or by the commitment its reminders were about; counts of what was found, that
stop at a cap."""

from sqlalchemy import func, or_, select

from handoff.commitments.models import Commitment, Handoff
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor, Page, keyset_page
from handoff.mail import FAILED, PENDING, SENDING, SENT, STATUSES, WITHDRAWN, OutboxMessage
from handoff.nagging.models import Nag
from handoff.ownership.models import CustomerTask

COUNT_CAP = 10_000
# Each state as the outbox names it, in the counts and on every message alike.
STATE_WORDS = {
    PENDING: "waiting",
    SENDING: "sending",
    SENT: "sent",
    FAILED: "failed",
    WITHDRAWN: "withdrawn",
}


def _about(commitment_id: int):
    """SQL: the message carried a reminder about this commitment (its handoffs or tasks)."""
    handoffs = select(Handoff.id).where(Handoff.commitment_id == commitment_id)
    tasks = select(CustomerTask.id).where(CustomerTask.commitment_id == commitment_id)
    carried = select(Nag.message_id).where(
        Nag.message_id.is_not(None),
        or_(Nag.handoff_id.in_(handoffs), Nag.task_id.in_(tasks)),
    )
    return OutboxMessage.id.in_(carried)


def _to(search: str):
    """SQL: the recipient's address begins with what was typed (an index range)."""
    start = search.strip().lower()
    return (OutboxMessage.to_address >= start) & (OutboxMessage.to_address < start + "\uffff")


def outbox_page(status: str | None, search: str, per: int, after=None, before=None) -> Page:
    """One page of messages, newest first."""
    query = select(OutboxMessage).where(*_found(search))
    if status in STATUSES:
        query = query.where(OutboxMessage.status == status)
    cursor = Cursor.read(after, (int,)) or Cursor.read(before, (int,), backwards=True)
    return keyset_page(query, (OutboxMessage.id,), lambda m: (m.id,), cursor, per, descending=True)


def _found(search: str) -> list:
    """SQL: the messages a search finds (all, with none): a commitment's reference, or the
    beginning of the recipient's address."""
    search = search.strip()
    if not search:
        return []
    commitment_id = Commitment.id_from_reference(search)
    is_reference = commitment_id is not None and search.upper().startswith("C")
    return [_about(commitment_id) if is_reference else _to(search)]


def status_counts(search: str = "") -> dict[str, tuple[int, bool]]:
    """How many of the messages a search finds are in each state (a count stops at
    COUNT_CAP: "10,000+"), in one query of index ranges."""
    found = _found(search)
    parts = []
    for status in STATUSES:
        capped = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == status, *found)
            .limit(COUNT_CAP + 1)
            .subquery()
        )
        parts.append(select(func.count()).select_from(capped).scalar_subquery())
    found = db.session.execute(select(*parts)).one()
    return {s: (min(n, COUNT_CAP), n > COUNT_CAP) for s, n in zip(STATUSES, found, strict=True)}
