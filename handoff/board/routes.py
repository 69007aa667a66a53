"""The board: every open commitment, its route, its status, who owns the customer."""

from datetime import date, datetime, time, timedelta

from flask import Blueprint, Response, request, stream_with_context, url_for
from flask_login import current_user, login_required
from sqlalchemy import func, select

from handoff.accounts.models import Person
from handoff.board.export import export_rows
from handoff.board.queries import (
    SHOW_CHOICES,
    SORT_CHOICES,
    BoardFilters,
    board_page,
    local_day_bounds,
)
from handoff.commitments.sentences import why_overdue
from handoff.commitments.status import Status
from handoff.customers.models import Customer
from handoff.departments.away import Presence
from handoff.departments.models import Department, Membership
from handoff.kernel.clock import utcnow
from handoff.kernel.csvfiles import csv_lines
from handoff.kernel.dates import format_relative
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput
from handoff.kernel.paging import PAGE_SIZES
from handoff.kernel.timeline import TimelineEvent
from handoff.web import (
    at_risk_within,
    reader_zone,
    render,
    render_fragment,
    to_local,
    wants_fragment,
)

bp = Blueprint("board", __name__)


def unreachable_departments() -> list[Department]:
    """Departments with nobody who can receive reminders: their nags would reach no one.
    (Asked of each department's members through their index: NOT IN a list of every active
    member made SQLite index all people again for every page of the board.)"""
    someone = (
        select(Membership.id)
        .join(Person, Person.id == Membership.person_id)
        .where(Membership.department_id == Department.id, Person.active.is_(True))
    )
    return list(
        db.session.scalars(select(Department).where(~someone.exists()).order_by(Department.name))
    )


def _links(filters: BoardFilters, page, version: str) -> dict:
    """The addresses of this page's refresh (saying what it shows now, so that an unchanged
    list gets nothing), of the first, the next and the previous page."""
    query = filters.as_query()
    here = {n: request.args[n] for n in ("after", "before") if request.args.get(n)}
    return {
        "refresh": url_for("board.index", **query, **here, seen=version),
        "first": url_for("board.index", **query) if here else None,
        "next": url_for("board.index", **query, after=page.after) if page.after else None,
        "previous": url_for("board.index", **query, before=page.before) if page.before else None,
        # a customer's name narrows the board to them in the same order and page size
        "keep": {name: query[name] for name in ("sort", "per") if name in query},
    }


def board_version(now) -> str:
    """What the board shows changes with every verb and reminder (each writes the timeline)
    and, as its times are read relative to now, with the minute: one indexed look-up."""
    last = db.session.scalar(select(func.max(TimelineEvent.id))) or 0
    return f"{last}.{now.strftime('%Y%m%d%H%M')}"


@bp.get("/")
@login_required
def index():
    """The board; an htmx request (a filter change or the refresh) gets only the list, and a
    refresh of a list that has not changed since it was shown gets nothing (204)."""
    filters = BoardFilters.from_args(request.args)
    now = utcnow()
    version = board_version(now)
    if wants_fragment() and request.args.get("seen") == version:
        return "", 204, {"Vary": "HX-Request"}
    result = board_page(
        filters,
        department_ids=(  # (a delegate's include those they answer for)
            current_user.acting_department_ids(now) if filters.mine else current_user.department_ids
        ),
        now=now,
        at_risk_within=at_risk_within(),
        day_bounds=local_day_bounds(to_local(now)),
        after=request.args.get("after"),
        before=request.args.get("before"),
    )
    rows = []
    for c in result.page.rows:
        status = c.status(now, at_risk_within())
        why = why_overdue(c, now, format_relative) if status == Status.OVERDUE else ""
        rows.append((c, status, why))
    listed = {
        "rows": rows,
        "pages": result.page,
        "total": result.total,
        "capped": result.capped,
        "filters": filters,
        "links": _links(filters, result.page, version),
    }
    if wants_fragment():  # the list alone: none of the filters' choices
        return render_fragment("board/_list.html", **listed)
    return render(
        "board/index.html",
        unreachable=unreachable_departments(),
        away_today=Presence.at(now).unattended(),
        show_choices=SHOW_CHOICES,
        sort_choices=SORT_CHOICES,
        page_sizes=PAGE_SIZES,
        departments=db.session.execute(
            select(Department.id, Department.name).order_by(Department.name)
        ).all(),
        filter_customer=db.session.get(Customer, filters.customer) if filters.customer else None,
        export_from=(to_local(now) - timedelta(days=EXPORT_DEFAULT_DAYS - 1)).date().isoformat(),
        export_to=to_local(now).date().isoformat(),
        export_most_days=EXPORT_MOST_DAYS,
        **listed,
    )


EXPORT_DEFAULT_DAYS = 30
EXPORT_MOST_DAYS = 366  # a year: a download of a few tens of megabytes at a million


@bp.get("/export.csv")
@login_required
def export():
    """The commitments made from one day to another (in the reader's calendar), with their
    handoffs, as CSV with the board's filters; streamed as it is read."""
    zone = reader_zone()
    today = to_local(utcnow()).date()
    first = _export_day(request.args.get("from"), today - timedelta(days=EXPORT_DEFAULT_DAYS - 1))
    last = _export_day(request.args.get("to"), today)
    if first > last:
        first, last = last, first
    if (last - first).days >= EXPORT_MOST_DAYS:
        raise InvalidInput(f"At most {EXPORT_MOST_DAYS} days at once: choose a shorter period.")
    filters = BoardFilters.from_args(request.args)
    start = datetime.combine(first, time(0), zone)
    end = datetime.combine(last + timedelta(days=1), time(0), zone)
    rows = export_rows(
        start,
        end,
        department_ids=[filters.department] if filters.department else (),
        mine_ids=current_user.acting_department_ids(utcnow()) if filters.mine else None,
        customer_id=filters.customer,
        zone=zone,
    )
    name = f"commitments-{first.isoformat()}-{last.isoformat()}.csv"
    return Response(
        stream_with_context(csv_lines(rows)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


def _export_day(text: str | None, default: date) -> date:
    """A day the URL gives (YYYY-MM-DD), the default when none; one it cannot read is said."""
    if not text:
        return default
    try:
        day = date.fromisoformat(text.strip())
        if len(text.strip()) != 10:
            raise ValueError(text)
    except ValueError:
        raise InvalidInput(f"“{text[:40]}” is not a date: write it as 2026-11-30.") from None
    if not 2000 <= day.year <= 2099:
        raise InvalidInput(f"“{text[:40]}” is not a day from 2000 to 2099.")
    return day
