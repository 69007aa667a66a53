"""The board: every open commitment, its route, its status, who owns the customer."""

from flask import Blueprint, request
from flask_login import current_user, login_required
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.board.queries import SHOW_CHOICES, BoardFilters, board_rows, local_day_bounds
from handoff.customers.models import Customer
from handoff.departments.models import Department, Membership
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.web import at_risk_within, render, to_local

bp = Blueprint("board", __name__)


def unreachable_departments() -> list[Department]:
    """Departments with nobody who can receive reminders: their nags would reach no one."""
    reachable = (
        select(Membership.department_id)
        .join(Person, Person.id == Membership.person_id)
        .where(Person.active.is_(True))
    )
    return list(
        db.session.scalars(
            select(Department).where(Department.id.not_in(reachable)).order_by(Department.name)
        )
    )


@bp.get("/")
@login_required
def index():
    """The board; an htmx request (a filter change or the refresh) gets only the list."""
    filters = BoardFilters.from_args(request.args)
    now = utcnow()
    rows, total = board_rows(
        filters,
        department_ids=current_user.department_ids,
        now=now,
        at_risk_within=at_risk_within(),
        day_bounds=local_day_bounds(to_local(now)),
    )
    departments = db.session.scalars(select(Department).order_by(Department.name)).all()
    customer = db.session.get(Customer, filters.customer) if filters.customer else None
    return render(
        "board/index.html",
        "board/_list.html",
        unreachable=unreachable_departments(),
        rows=rows,
        total=total,
        filters=filters,
        show_choices=SHOW_CHOICES,
        departments=departments,
        filter_customer=customer,
    )
