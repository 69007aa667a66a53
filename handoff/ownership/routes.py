"""Marking the customer told, and the organisation's ownership settings."""

from flask import Blueprint, flash, redirect, request, url_for
from flask_login import current_user, login_required

from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.errors import NotAllowed
from handoff.ownership.forms import SettingsForm, ToldForm
from handoff.ownership.models import CustomerTask, OrganisationSettings
from handoff.ownership.services import mark_told, require_may_tell, save_settings, tasks_view
from handoff.web import at_risk_within, format_when, render

bp = Blueprint("ownership", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def tasks_context(tasks) -> dict:
    """What the task partial shows for each task, for the signed-in reader."""
    return tasks_view(tasks, current_user, utcnow(), at_risk_within(), format_when)


def task_row(task: CustomerTask, status: int = 200, form: ToldForm | None = None, trigger=None):
    view = request.values.get("view", "commitment")
    return render(
        "ownership/task_page.html",
        "ownership/_task.html",
        status,
        trigger,
        task=task,
        form=form or ToldForm(formdata=None),
        view=view if view in ("commitment", "inbox") else "commitment",
        **tasks_context([task]),
    )


@bp.post("/tasks/<int:task_id>/told")
def told(task_id: int):
    """Someone in the department that talks to the customer told them; the note says what."""
    task = db.get_or_404(CustomerTask, task_id)
    require_may_tell(current_user, task)  # before reading anything sent
    form = ToldForm()
    if not form.validate():
        return task_row(task, 422, form)
    changed = mark_told(task, current_user, utcnow(), form.note.data)
    db.session.commit()
    return task_row(task, trigger="commitment-changed" if changed else None)


@bp.route("/admin/settings", methods=["GET", "POST"])
def settings():
    """Admins choose whether breaking a promise moves the customer conversation, and the
    business time the customer owner has to tell the customer."""
    if not current_user.is_admin:
        raise NotAllowed("Only admins change the organisation's settings.")
    current = OrganisationSettings.current()
    form = SettingsForm(obj=current if request.method in ("GET", "HEAD") else None)
    if request.method == "POST" and form.validate():
        save_settings(
            current_user,
            utcnow(),
            owner_moves=form.owner_moves.data,
            tell_minutes=form.tell_customer_minutes.data,
        )
        db.session.commit()
        flash("Saved. Tasks already set keep the deadline they were given.")
        return redirect(url_for("ownership.settings"), 303)
    status = 422 if request.method == "POST" else 200
    return render("ownership/settings.html", form=form, status=status)
