"""The board's one query: open commitments, narrowed by filters that live in the URL."""

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta

from sqlalchemy import exists, select
from sqlalchemy.orm import selectinload

from handoff.commitments.lifecycle import OPEN_STATES, UNSETTLED_STATES, State
from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.status import Status
from handoff.kernel.db import db
from handoff.kernel.forms import database_id

SHOW_CHOICES = {
    "": "All open",
    "waiting": "Waiting for acknowledgement",
    "at_risk": "At risk or overdue",
    "overdue": "Overdue",
    "due_today": "Due today",
}
SEVERITY = [Status.OVERDUE, Status.AT_RISK, Status.WAITING, Status.CONFIRMED, Status.FULFILLED]
BOARD_LIMIT = 150


@dataclass(frozen=True)
class BoardFilters:
    show: str = ""
    mine: bool = False
    department: int | None = None
    customer: int | None = None

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        show = args.get("show", "")
        return cls(
            show=show if show in SHOW_CHOICES else "",
            mine=args.get("mine") in ("1", "on", "true"),
            department=args.get("department", type=database_id),
            customer=args.get("customer", type=database_id),
        )

    def as_query(self) -> dict:
        """The filters as URL parameters, leaving out the ones not set."""
        values = asdict(self)
        values["mine"] = "1" if self.mine else None
        return {k: v for k, v in values.items() if v not in (None, "", False)}


def _has_handoff(*conditions):
    return exists().where(Handoff.commitment_id == Commitment.id, *conditions)


def board_rows(
    filters: BoardFilters,
    *,
    department_ids: frozenset[int],
    now: datetime,
    at_risk_within: timedelta,
    day_bounds: tuple[datetime, datetime],
) -> tuple[list[tuple[Commitment, Status]], int]:
    """The open commitments that pass the filters, most urgent first, and how many there are."""
    query = select(Commitment).where(
        Commitment.cancelled_at.is_(None), _has_handoff(Handoff.state.in_(sorted(UNSETTLED_STATES)))
    )
    if filters.mine:
        query = query.where(
            Commitment.owner_department_id.in_(department_ids)
            | _has_handoff(Handoff.department_id.in_(department_ids))
        )
    if filters.department:
        query = query.where(
            (Commitment.owner_department_id == filters.department)
            | _has_handoff(Handoff.department_id == filters.department)
        )
    if filters.customer:
        query = query.where(Commitment.customer_id == filters.customer)
    if filters.show == "waiting":
        query = query.where(_has_handoff(Handoff.state == State.PENDING))
    if filters.show == "due_today":
        start, end = day_bounds
        query = query.where(
            Commitment.promised_at.between(start, end)
            | _has_handoff(
                Handoff.state.in_(sorted(OPEN_STATES)), Handoff.due_at.between(start, end)
            )
        )
    commitments = db.session.scalars(query.options(selectinload(Commitment.handoffs))).all()
    rows = [(c, c.status(now, at_risk_within)) for c in commitments]
    if filters.show == "at_risk":
        rows = [r for r in rows if r[1] in (Status.AT_RISK, Status.OVERDUE)]
    elif filters.show == "overdue":
        rows = [r for r in rows if r[1] == Status.OVERDUE]
    rows.sort(key=lambda r: (SEVERITY.index(r[1]), r[0].promised_at, r[0].id))
    return rows[:BOARD_LIMIT], len(rows)


def local_day_bounds(now_local: datetime) -> tuple[datetime, datetime]:
    """The start and end of the reader's current day, as aware datetimes."""
    start = datetime.combine(now_local.date(), time.min, tzinfo=now_local.tzinfo)
    return start, start + timedelta(days=1)
