"""Admins read the outbox and set the nag policies."""

import re
from datetime import time

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
from handoff.kernel.errors import Conflict
from handoff.mail import FAILED, STATUSES, OutboxMessage, retry, smtp_configured
from handoff.nagging.forms import PolicyForm
from handoff.nagging.policies import Shown, follow_the_organisation, save_policy, shown_for

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
    if message.status != FAILED:
        raise Conflict(f"This message is {message.status}; only a failed message is retried.")
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
    form = PolicyForm(data=None if request.method == "POST" else _form_data(shown))
    if request.method == "POST" and request.form.get("op") == "reset" and department:
        follow_the_organisation(department.id, utcnow())
        db.session.commit()
        flash(f"{department.name} now follows the organisation's hours and policy.")
        return redirect(url_for("nagging_admin.policies"), 303)
    if request.method == "POST" and form.validate():
        moved = save_policy(department_id, utcnow(), **_settings(form, department is None))
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


def _form_data(shown: Shown) -> dict:
    hours, policy = shown.hours, shown.policy
    return {
        "time_zone": hours.time_zone,
        "always_open": hours.always_open,
        "work_days": sorted(hours.work_day_numbers),
        "day_start": time.fromisoformat(hours.day_start),
        "day_end": time.fromisoformat(hours.day_end),
        "holidays": hours.holidays,
        "holiday_country": hours.holiday_country,
        "ack_window_minutes": policy.ack_window_minutes,
        "cadence_minutes": policy.cadence_minutes,
        "escalate_after": policy.escalate_after,
        "org_escalate_after": policy.org_escalate_after,
        "due_soon_minutes": policy.due_soon_minutes,
        "escalation_email": policy.escalation_email,
        "escalation_name": policy.escalation_name,
    }


def _settings(form: PolicyForm, organisation: bool) -> dict:
    """What the form says, as settings. Round the clock the hours may be left empty: the
    department keeps the ones it had, so that unticking 24/7 later brings them back."""
    settings = {
        "time_zone": form.time_zone.data,
        "always_open": form.always_open.data,
        "holidays": "\n".join(
            line.strip() for line in (form.holidays.data or "").splitlines() if line.strip()
        ),
        "holiday_country": (form.holiday_country.data or "").strip().upper(),
        "ack_window_minutes": form.ack_window_minutes.data,
        "cadence_minutes": form.cadence_minutes.data,
        "escalate_after": form.escalate_after.data,
        "org_escalate_after": form.org_escalate_after.data,
        "due_soon_minutes": form.due_soon_minutes.data,
    }
    if form.work_days.data:
        settings["work_days"] = ",".join(str(d) for d in sorted(form.work_days.data))
    if form.day_start.data is not None:
        settings["day_start"] = form.day_start.data.strftime("%H:%M")
    if form.day_end.data is not None:
        settings["day_end"] = form.day_end.data.strftime("%H:%M")
    if organisation:
        settings["escalation_email"] = (form.escalation_email.data or "").strip().lower()
        settings["escalation_name"] = (form.escalation_name.data or "").strip()
    return settings
