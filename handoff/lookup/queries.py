"""The lookup's query: what an agent types, found through indexes only."""

from sqlalchemy import select, union_all

from handoff.commitments.models import Commitment
from handoff.commitments.rows import commitment_rows
from handoff.customers.services import matching_customer_ids
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor, Page, in_page_order, page_of, reading_after
from handoff.kernel.search import matching, searchable

LOOKUP_LIMIT = 25  # results a page, unless the URL asks for another size
CUSTOMER_LIMIT = 50  # customers a lookup looks at, newest first: more means "type more"


def _open_first(c) -> tuple:
    """Open commitments first (some part still to answer or to do), then the fulfilled and
    the cancelled; newest promise first within each."""
    still_open = c.cancelled_at is None and any(h.is_open for h in c.handoffs)
    return (not still_open, -c.promised_at.timestamp(), -c.id)


def find_commitments(
    query: str, per: int = LOOKUP_LIMIT, cursor: Cursor | None = None
) -> tuple[Page, bool]:
    """A page of the commitments whose reference, whose customer (name, email, phone,
    account), or whose promise matches `query`, newest first from `cursor` (a commitment's
    id), shown open ones first; and whether so many customers match that only the newest of
    them were looked at. Each part is one index lookup, reading no more than a page."""
    query = query.strip()
    parts = []
    reference_id = Commitment.id_from_reference(query)
    is_reference = reference_id is not None and query.upper().startswith("C")
    if is_reference:  # (a reference is looked up as one, not as text)
        parts.append((select(Commitment.id).where(Commitment.id == reference_id), Commitment.id))
    many = False
    if searchable(query) and not is_reference:
        customers = list(db.session.scalars(matching_customer_ids(query, CUSTOMER_LIMIT + 1)))
        many = len(customers) > CUSTOMER_LIMIT
        if customers:
            chosen = Commitment.customer_id.in_(customers[:CUSTOMER_LIMIT])
            parts.append((select(Commitment.id).where(chosen), Commitment.id))
        parts.append(matching(Commitment, [Commitment.title], query))
    if not parts:
        return Page([]), False
    each = [reading_after(part, [key], cursor, per, descending=True) for part, key in parts]
    found = union_all(*(select(part.subquery()) for part in each)).subquery()
    backwards = bool(cursor and cursor.backwards)  # (a page back reads the newer ones)
    ids = sorted(set(db.session.scalars(select(found.c[0]))), reverse=not backwards)
    ids, more = in_page_order(ids[: per + 1], per, cursor)
    page = page_of(ids, more, lambda i: (i,), cursor)
    page.rows = sorted(commitment_rows(ids), key=_open_first)
    return page, many
