"""Admins read the outbox and set the nag policies."""

import re

from flask import (
    Blueprint,
    abort,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import func, select

from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.mail import FAILED, STATUSES, OutboxMessage, retry, smtp_configured
from handoff.nagging.forms import PolicyForm
from handoff.nagging.policies import follow_the_organisation, save_policy, shown_for

bp = Blueprint("nagging_admin", __name__, url_prefix="/admin")
OUTBOX_PAGE = 100


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


@bp.get("/outbox")
def outbox():
    """Every message written, newest first, with where it stands; ?status=failed for one kind."""
    status = request.args.get("status")
    status = status if status in STATUSES else None
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(OUTBOX_PAGE)
    if status:
        query = query.where(OutboxMessage.status == status)
    counts = dict(
        db.session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    )
    return render_template(
        "nagging/outbox.html",
        messages=db.session.scalars(query).all(),
        counts=counts,
        status=status,
        smtp=smtp_configured(),
    )


@bp.get("/outbox/<int:message_id>")
def message(message_id: int):
    """One message as its recipient sees it."""
    message = db.get_or_404(OutboxMessage, message_id)
    links = re.findall(r'href="([^"]+)"[^>]*>([^<]+)</a>', message.body_html)
    return render_template("nagging/message.html", message=message, links=links)


@bp.get("/outbox/<int:message_id>/html")
def message_html(message_id: int):
    """The HTML part alone, for the preview frame: its own styles, no scripts."""
    message = db.get_or_404(OutboxMessage, message_id)
    body = message.body_html.replace("<head>", '<head><base target="_top">', 1)
    response = make_response(body)
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"  # shown in the outbox's preview frame
    return response


@bp.post("/outbox/<int:message_id>/retry")
def retry_message(message_id: int):
    """Send a failed message again: pending from now, its attempts counted afresh."""
    message = db.get_or_404(OutboxMessage, message_id)
    retry(message, utcnow())
    db.session.commit()
    flash(f"The message to {message.to_address} goes out again in the next round.")
    # Back to the list of failures when retried from there, else to the message itself.
    if request.form.get("back") == "failed":
        return redirect(url_for("nagging_admin.outbox", status=FAILED), 303)
    return redirect(url_for("nagging_admin.message", message_id=message.id), 303)


@bp.get("/policies")
def policies():
    """The organisation's default and each department's own hours and policy, if it has any."""
    departments = db.session.scalars(select(Department).order_by(Department.name)).all()
    return render_template(
        "nagging/policies.html",
        organisation=shown_for(None),
        departments=[(d, shown_for(d.id)) for d in departments],
    )


@bp.route("/policies/organisation", methods=["GET", "POST"])
@bp.route("/policies/<int:department_id>", methods=["GET", "POST"])
def policy(department_id: int | None = None):
    """Edit the organisation's default, or a department's own hours and policy."""
    department = db.get_or_404(Department, department_id) if department_id else None
    shown = shown_for(department_id)
    form = PolicyForm() if request.method == "POST" else PolicyForm.of(shown.hours, shown.policy)
    if request.method == "POST" and request.form.get("op") == "reset" and department:
        follow_the_organisation(department.id, utcnow())
        db.session.commit()
        flash(f"{department.name} now follows the organisation's hours and policy.")
        return redirect(url_for("nagging_admin.policies"), 303)
    if request.method == "POST" and form.validate():
        moved = save_policy(department_id, utcnow(), **form.settings(department is None))
        db.session.commit()
        flash(f"Saved; {moved} open handoffs and tasks were rescheduled under it.")
        return redirect(url_for("nagging_admin.policies"), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "nagging/policy.html",
            form=form,
            department=department,
            has_own=department is not None and shown.own,
        ),
        status,
    )
