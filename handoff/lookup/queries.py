"""The lookup's query: what an agent types, found through indexes only."""

from sqlalchemy import select, union_all

from handoff.commitments.models import Commitment
from handoff.commitments.rows import CommitmentRow, commitment_rows
from handoff.customers.services import matching_customer_ids
from handoff.kernel.db import db
from handoff.kernel.search import matching_ids, searchable

LOOKUP_LIMIT = 25
CUSTOMER_LIMIT = 50  # customers a lookup looks at, newest first: more means "type more"


def find_commitments(query: str) -> tuple[list[CommitmentRow], bool]:
    """Commitments whose reference, whose customer (name, email, phone, account), or whose
    promise matches `query`, open ones first, newest first; and whether so many customers
    match that only the newest of them were looked at. Each part is one index lookup."""
    query = query.strip()
    parts = []
    reference_id = Commitment.id_from_reference(query)
    is_reference = reference_id is not None and query.upper().startswith("C")
    if is_reference:  # (a reference is looked up as one, not as text)
        parts.append(select(Commitment.id).where(Commitment.id == reference_id))
    many = False
    if searchable(query) and not is_reference:
        customers = list(db.session.scalars(matching_customer_ids(query, CUSTOMER_LIMIT + 1)))
        many = len(customers) > CUSTOMER_LIMIT
        if customers:
            parts.append(
                select(Commitment.id)
                .where(Commitment.customer_id.in_(customers[:CUSTOMER_LIMIT]))
                .order_by(Commitment.id.desc())
                .limit(LOOKUP_LIMIT)
            )
        parts.append(matching_ids(Commitment, [Commitment.title], query, LOOKUP_LIMIT))
    if not parts:
        return [], False
    found = union_all(*(select(part.subquery()) for part in parts)).subquery()
    ids = list(db.session.scalars(select(found.c[0])))
    commitments = sorted(
        commitment_rows(list(dict.fromkeys(ids))),
        key=lambda c: (c.cancelled_at is not None, -c.promised_at.timestamp(), -c.id),
    )
    return commitments[:LOOKUP_LIMIT], many
