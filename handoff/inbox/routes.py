"""A department's inbox: what waits for its answer, most urgent first."""

from flask import Blueprint, redirect, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from sqlalchemy.orm import contains_eager

from handoff.commitments.answers import answers_by_handoff
from handoff.commitments.lifecycle import OPEN_STATES, State
from handoff.commitments.models import Commitment, Handoff
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.ownership.forms import ToldForm
from handoff.ownership.services import open_tasks_of_department, tasks_view
from handoff.web import at_risk_within, format_when, render

bp = Blueprint("inbox", __name__)


@bp.get("/inbox")
@login_required
def mine():
    """The first inbox of the signed-in person."""
    departments = current_user.departments
    if not departments:
        return render("inbox/none.html", "inbox/none.html")
    return redirect(url_for("inbox.show", department_id=departments[0].id))


def inbox_handoffs(department_id: int) -> dict[str, list[Handoff]]:
    """The department's open work in three lists, each most urgent first."""
    rows = db.session.scalars(
        select(Handoff)
        .join(Handoff.commitment)
        .where(
            Commitment.cancelled_at.is_(None),
            ((Handoff.department_id == department_id) & Handoff.state.in_(sorted(OPEN_STATES)))
            | (
                (Commitment.owner_department_id == department_id)
                & (Handoff.state == State.COUNTERED)
            ),
        )
        .options(contains_eager(Handoff.commitment).selectinload(Commitment.handoffs))
        .order_by(Handoff.due_at, Handoff.id)
    ).unique()
    lists: dict[str, list[Handoff]] = {"waiting": [], "settle": [], "countered": [], "accepted": []}
    for handoff in rows:
        if (
            handoff.state == State.COUNTERED
            and handoff.commitment.owner_department_id == department_id
        ):
            lists["settle"].append(handoff)
        elif handoff.department_id != department_id:
            continue
        elif handoff.state == State.PENDING:
            lists["waiting"].append(handoff)
        elif handoff.state == State.COUNTERED:
            lists["countered"].append(handoff)
        else:
            lists["accepted"].append(handoff)
    return lists


@bp.get("/departments/<int:department_id>/inbox")
@login_required
def show(department_id: int):
    """The handoffs waiting for this department's answer, the counters it must settle, its work."""
    department = db.get_or_404(Department, department_id)
    lists = inbox_handoffs(department_id)
    tasks = open_tasks_of_department(department_id)
    switchable = (
        db.session.scalars(select(Department).order_by(Department.name)).all()
        if current_user.is_admin
        else current_user.departments
    )
    return render(
        "inbox/show.html",
        "inbox/_lists.html",
        department=department,
        lists=lists,
        answers=answers_by_handoff(current_user, [h for hs in lists.values() for h in hs]),
        tasks=tasks,
        **tasks_view(tasks, current_user, utcnow(), at_risk_within(), format_when),
        told_form=ToldForm(formdata=None),
        switchable=switchable,
        view="inbox",
    )
