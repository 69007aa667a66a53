"""The board's queries: one page of open commitments, filtered, sorted and counted in SQL.

A commitment's status follows from the facts kept on its row (commitments.status.BoardFacts)
and the moment: `status_condition` asks the database the same question `status_from` answers
in Python. The most urgent first means by status (overdue, at risk, waiting, confirmed), then
by the customer's date: each status is read in date order from the board index, one after the
other, so a page costs the same at ten thousand commitments as at a million.
"""

from dataclasses import asdict, dataclass
from datetime import datetime, time, timedelta
from functools import lru_cache

from sqlalchemy import and_, bindparam, exists, false, literal, or_, select, tuple_, union_all

from handoff.commitments.lifecycle import OPEN_STATES
from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.rows import commitment_rows
from handoff.commitments.status import Status
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel.db import UTCDateTime, db
from handoff.kernel.forms import database_id
from handoff.kernel.paging import (
    DEFAULT_PAGE_SIZE,
    Cursor,
    Page,
    count_statement,
    count_up_to,
    fetch_after,
    page_of,
    page_size,
)

SHOW_CHOICES = {
    "": "All open",
    "waiting": "Waiting for acknowledgement",
    "at_risk": "At risk or overdue",
    "overdue": "Overdue",
    "due_today": "Due today",
}
SORT_CHOICES = {
    "urgency": "Most urgent first",
    "due": "Customer's date",
    "customer": "Customer",
    "department": "Promised by",
    "newest": "Newest first",
}
# Most serious first: the order of the board.
SEVERITY = [Status.OVERDUE, Status.AT_RISK, Status.WAITING, Status.CONFIRMED]
COUNT_CAP = 10_000


@dataclass(frozen=True)
class BoardFilters:
    show: str = ""
    mine: bool = False
    department: int | None = None
    customer: int | None = None
    sort: str = "urgency"
    per: int = DEFAULT_PAGE_SIZE

    @classmethod
    def from_args(cls, args) -> "BoardFilters":
        show, sort = args.get("show", ""), args.get("sort", "urgency")
        return cls(
            show=show if show in SHOW_CHOICES else "",
            mine=args.get("mine") in ("1", "on", "true"),
            department=args.get("department", type=database_id),
            customer=args.get("customer", type=database_id),
            sort=sort if sort in SORT_CHOICES else "urgency",
            per=page_size(args.get("per", DEFAULT_PAGE_SIZE)),
        )

    def as_query(self) -> dict:
        """The filters as URL parameters, leaving out the ones not set (or the defaults)."""
        values = asdict(self)
        values["mine"] = "1" if self.mine else None
        values["sort"] = None if self.sort == "urgency" else self.sort
        values["per"] = None if self.per == DEFAULT_PAGE_SIZE else self.per
        return {k: v for k, v in values.items() if v not in (None, "", False)}


def status_condition(status: Status, now, at_risk_within: timedelta | None = None, soon=None):
    """SQL: the commitment on the board has this status at `now` (as status_from says).
    `soon` is `now + at_risk_within`: given as such (a bound parameter, say) or computed."""
    soon = now + at_risk_within if soon is None else soon
    overdue = Commitment.overdue_from < now
    answer_soon = Commitment.answer_due_at <= soon
    if status == Status.OVERDUE:
        return overdue
    # not overdue: the customer's date has not passed either (overdue_from ≤ promised_at),
    # which lets the board index start at `now`
    not_overdue = and_(Commitment.overdue_from >= now, Commitment.promised_at >= now)
    if status == Status.AT_RISK:
        return and_(not_overdue, or_(Commitment.troubled.is_(True), answer_soon))
    calm = and_(not_overdue, Commitment.troubled.is_(False))
    if status == Status.WAITING:
        return and_(calm, Commitment.answer_due_at > soon)
    return and_(calm, Commitment.answer_due_at.is_(None))


def involves(department_ids) -> object:
    """SQL: the commitment was made by one of these departments or hands work to one."""
    return or_(
        Commitment.owner_department_id.in_(department_ids),
        exists().where(
            Handoff.commitment_id == Commitment.id, Handoff.department_id.in_(department_ids)
        ),
    )


# The board's statements are built once for each shape of filters and kept (building one
# cost more than running it); what varies within a shape is bound at each run (_params).
NOW, SOON, PER = bindparam("now"), bindparam("soon"), bindparam("per")


@dataclass(frozen=True)
class Shape:
    """Which filters are set, not their values: what a kept statement is built for."""

    show: str
    mine: bool  # (and the reader belongs to a department)
    nobody: bool  # "my departments" for someone in none: nothing
    department: bool
    customer: bool

    @classmethod
    def of(cls, filters: BoardFilters, department_ids) -> "Shape":
        mine = filters.mine and bool(department_ids)
        nobody = filters.mine and not department_ids
        return cls(filters.show, mine, nobody, bool(filters.department), bool(filters.customer))


def _params(filters: BoardFilters, department_ids, day_bounds, now, at_risk_within) -> dict:
    """The values of a run of the kept statements."""
    return {
        "now": now,
        "soon": now + at_risk_within,
        "per": filters.per + 1,
        "mine": sorted(department_ids),
        "department": [filters.department] if filters.department else [],
        "customer": filters.customer,
        "day_start": day_bounds[0] if day_bounds else None,
        "day_end": day_bounds[1] if day_bounds else None,
    }


def _filtered(shape: Shape):
    """The open commitments that pass the filters (before any status filter)."""
    query = select(Commitment).where(Commitment.on_board.is_(True))
    if shape.nobody:
        query = query.where(false())
    if shape.mine:
        query = query.where(involves(bindparam("mine", expanding=True)))
    if shape.department:
        query = query.where(involves(bindparam("department", expanding=True)))
    if shape.customer:
        query = query.where(Commitment.customer_id == bindparam("customer"))
    if shape.show == "waiting":
        query = query.where(Commitment.answer_due_at.is_not(None))
    if shape.show == "due_today":
        start, end = bindparam("day_start"), bindparam("day_end")
        due_today = exists().where(
            Handoff.commitment_id == Commitment.id,
            Handoff.state.in_(sorted(OPEN_STATES)),
            Handoff.due_at.between(start, end),
        )
        query = query.where(or_(Commitment.promised_at.between(start, end), due_today))
    return query


@lru_cache(maxsize=256)
def _base(shape: Shape):
    """The commitments shown (statuses too), and the statement that counts them."""
    base = _filtered(shape)
    shown = _shown_statuses(shape.show)
    if shown != SEVERITY:
        base = base.where(or_(*(status_condition(s, NOW, soon=SOON) for s in shown)))
    return base, count_statement(base, COUNT_CAP)


def _shown_statuses(show: str) -> list[Status]:
    if show == "overdue":
        return [Status.OVERDUE]
    if show == "at_risk":
        return [Status.OVERDUE, Status.AT_RISK]
    return list(SEVERITY)


# Each sort: the columns of its key (all ascending unless descending), what a row's key is,
# the types of a cursor's values, and what it joins.
SORTS = {
    "due": {
        "keys": (Commitment.promised_at, Commitment.id),
        "key_of": lambda c: (c.promised_at, c.id),
        "shape": (datetime, int),
    },
    "newest": {
        "keys": (Commitment.id,),
        "key_of": lambda c: (c.id,),
        "shape": (int,),
        "descending": True,
    },
    "customer": {
        "keys": (Customer.name, Commitment.id),
        "key_of": lambda c: (c.customer.name, c.id),
        "shape": (str, int),
        "join": (Customer, Customer.id == Commitment.customer_id),
    },
    "department": {
        "keys": (Department.name, Commitment.promised_at, Commitment.id),
        "key_of": lambda c: (c.owner_department.name, c.promised_at, c.id),
        "shape": (str, datetime, int),
        "join": (Department, Department.id == Commitment.owner_department_id),
    },
}


@dataclass
class BoardPage:
    page: Page
    total: int
    capped: bool  # there are more than `total`: "10,000+"


def board_page(
    filters: BoardFilters,
    *,
    department_ids: frozenset[int],
    now: datetime,
    at_risk_within: timedelta,
    day_bounds: tuple[datetime, datetime],
    after: str | None = None,
    before: str | None = None,
) -> BoardPage:
    """One page of the open commitments that pass the filters, in the chosen order, and how
    many there are in all."""
    shape = Shape.of(filters, department_ids)
    params = _params(filters, department_ids, day_bounds, now, at_risk_within)
    base, count = _base(shape)
    total, capped = count_up_to(count, COUNT_CAP, params)

    if filters.sort == "urgency":
        page = _by_urgency(shape, params, after, before)
    else:
        page = _by_sort(base, params, SORTS[filters.sort], filters.per, after, before)
    return BoardPage(page, total, capped)


def _by_sort(base, params, sort: dict, per: int, after, before) -> Page:
    if "join" in sort:
        base = base.join(*sort["join"])
    cursor = Cursor.read(after, sort["shape"]) or Cursor.read(before, sort["shape"], backwards=True)
    descending = sort.get("descending", False)
    keys = sort["keys"]
    found, more = fetch_after(
        base.with_only_columns(*dict.fromkeys([Commitment.id, *keys])),
        keys,
        cursor,
        per,
        descending,
        as_rows=True,
        params=params,
    )
    rows = commitment_rows([row.id for row in found])
    return page_of(rows, more, sort["key_of"], cursor)


URGENCY_SHAPE = (int, datetime, int)  # (place of the status in SEVERITY, customer's date, id)


def _by_urgency(shape: Shape, params: dict, after, before) -> Page:
    """Status by status, most serious first, each in the customer's date order: one query,
    each status's part read in date order from the board index, at most a page from each."""
    cursor = Cursor.read(after, URGENCY_SHAPE) or Cursor.read(before, URGENCY_SHAPE, backwards=True)
    backwards = bool(cursor and cursor.backwards)
    ranks = [SEVERITY.index(s) for s in _shown_statuses(shape.show)]
    if cursor is not None:
        start = cursor.key[0]
        ranks = [r for r in ranks if (r <= start if backwards else r >= start)]
    if not ranks:
        return page_of([], False, None, cursor)
    at = cursor.key[0] if cursor is not None else None
    if cursor is not None:
        params = {**params, "at_date": cursor.key[1], "at_id": cursor.key[2]}
    picked = db.session.execute(_urgency(shape, tuple(ranks), at, backwards), params).all()
    per = params["per"] - 1
    more = len(picked) > per
    picked = picked[:per]
    if backwards:
        picked.reverse()
    ranked = dict(picked)
    rows = commitment_rows([i for i, _ in picked])
    return page_of(rows, more, lambda c: (ranked[c.id], c.promised_at, c.id), cursor)


@lru_cache(maxsize=256)
def _urgency(shape: Shape, ranks: tuple[int, ...], at: int | None, backwards: bool):
    """The statement of a page by urgency: for each status in `ranks`, a page of it in date
    order (the status `at` from the cursor's date and id on), most serious first."""
    base = _base(shape)[0]

    def in_order(columns):
        return [c.desc() if backwards else c.asc() for c in columns]

    parts = []
    for rank in ranks:
        part = base.where(status_condition(SEVERITY[rank], NOW, soon=SOON))
        if rank == at:
            row_key = tuple_(Commitment.promised_at, Commitment.id)
            given = tuple_(bindparam("at_date", type_=UTCDateTime()), bindparam("at_id"))
            part = part.where(row_key < given if backwards else row_key > given)
        part = (
            part.with_only_columns(
                Commitment.id, Commitment.promised_at, literal(rank).label("rank")
            )
            .order_by(*in_order([Commitment.promised_at, Commitment.id]))
            .limit(PER)
        )
        parts.append(select(part.subquery()))
    found = union_all(*parts).subquery()
    return (
        select(found.c.id, found.c.rank)
        .order_by(*in_order([found.c.rank, found.c.promised_at, found.c.id]))
        .limit(PER)
    )


def local_day_bounds(now_local: datetime) -> tuple[datetime, datetime]:
    """The start and end of the reader's current day, as aware datetimes."""
    start = datetime.combine(now_local.date(), time.min, tzinfo=now_local.tzinfo)
    return start, start + timedelta(days=1)
