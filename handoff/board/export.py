"""The commitments made in a period, with their handoffs, as CSV: the board's filters (the
departments involved, mine, a customer), a line per handoff (a commitment without one: a line
of its own). Read a few hundred commitments at a time by id, each chunk in a read of its own,
and written out as they are read, so that a year of history never sits in memory at once.
"""

from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import false, select
from sqlalchemy.orm import aliased

from handoff.board.queries import involves
from handoff.commitments.models import Commitment, Handoff
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel.db import db

CHUNK = 500  # commitments read at once
COLUMNS = [
    "commitment",
    "title",
    "customer",
    "customer email",
    "promised by",
    "made at",
    "promised to the customer for",
    "cancelled at",
    "step",
    "handed to",
    "asked",
    "handed over at",
    "due at",
    "state",
    "answered at",
    "answer",
    "done at",
]


def export_rows(
    first: datetime,
    end: datetime,
    *,
    department_ids=(),
    mine_ids=None,
    customer_id: int | None = None,
    zone,
) -> Iterator[list]:
    """The header, then a line per handoff of the commitments made from `first` to before
    `end` that pass the filters, in the order they were recorded; times in `zone` (ISO 8601
    with the offset)."""
    yield COLUMNS
    owner = aliased(Department)
    handed_to = aliased(Department)
    ids = select(Commitment.id).where(Commitment.created_at >= first, Commitment.created_at < end)
    if department_ids:
        ids = ids.where(involves(list(department_ids)))
    if mine_ids is not None:
        ids = ids.where(involves(sorted(mine_ids)) if mine_ids else false())
    if customer_id:
        ids = ids.where(Commitment.customer_id == customer_id)
    after = 0
    while True:
        chunk = list(
            db.session.scalars(
                ids.where(Commitment.id > after).order_by(Commitment.id).limit(CHUNK)
            )
        )
        if not chunk:
            return
        after = chunk[-1]
        lines = db.session.execute(
            select(
                Commitment.id,
                Commitment.title,
                Customer.name,
                Customer.email,
                owner.name,
                Commitment.created_at,
                Commitment.promised_at,
                Commitment.cancelled_at,
                Handoff.position,
                handed_to.name,
                Handoff.ask,
                Handoff.requested_at,
                Handoff.due_at,
                Handoff.state,
                Handoff.answered_at,
                Handoff.answer_note,
                Handoff.done_at,
            )
            .join(Customer, Customer.id == Commitment.customer_id)
            .join(owner, owner.id == Commitment.owner_department_id)
            .outerjoin(Handoff, Handoff.commitment_id == Commitment.id)
            .outerjoin(handed_to, handed_to.id == Handoff.department_id)
            .where(Commitment.id.in_(chunk))
            .order_by(Commitment.id, Handoff.position)
        )
        lines = [
            [Commitment.reference_of(commitment_id), *(_when(value, zone) for value in rest)]
            for commitment_id, *rest in lines
        ]
        # each chunk its own short read: a slow download holds no transaction open between
        # chunks (PostgreSQL would end one left idle; SQLite's would keep old pages alive)
        db.session.rollback()
        yield from lines


def _when(value, zone):
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="minutes")
    return "" if value is None else value
