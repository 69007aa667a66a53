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
from handoff.kernel.errors import Conflict
from handoff.mail import FAILED, STATUSES, OutboxMessage, retry, smtp_configured
from handoff.nagging.forms import PolicyForm
from handoff.nagging.models import DEFAULTS, NagPolicy
from handoff.nagging.schedule import reschedule_open_handoffs

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


def _message(message_id: int) -> OutboxMessage:
    message = db.session.get(OutboxMessage, message_id)
    if message is None:
        abort(404)
    return message


@bp.get("/outbox/<int:message_id>")
def message(message_id: int):
    """One message as its recipient sees it."""
    message = _message(message_id)
    links = re.findall(r'href="([^"]+)"[^>]*>([^<]+)</a>', message.body_html)
    return render_template("nagging/message.html", message=message, links=links)


@bp.get("/outbox/<int:message_id>/html")
def message_html(message_id: int):
    """The HTML part alone, for the preview frame: its own styles, no scripts."""
    message = _message(message_id)
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
    message = _message(message_id)
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
    """The organisation's default policy and each department's own, if it has one."""
    departments = db.session.scalars(select(Department).order_by(Department.name)).all()
    own = {p.department_id: p for p in db.session.scalars(select(NagPolicy))}
    return render_template(
        "nagging/policies.html",
        organisation=NagPolicy.organisation(),
        departments=departments,
        own=own,
    )


@bp.route("/policies/organisation", methods=["GET", "POST"])
@bp.route("/policies/<int:department_id>", methods=["GET", "POST"])
def policy(department_id: int | None = None):
    """Edit the organisation's default, or a department's own policy."""
    department = db.session.get(Department, department_id) if department_id else None
    if department_id and department is None:
        abort(404)
    existing = db.session.scalar(
        select(NagPolicy).where(
            NagPolicy.department_id == department_id
            if department_id
            else NagPolicy.department_id.is_(None)
        )
    )
    shown = existing or NagPolicy.organisation()
    form = PolicyForm(obj=None if request.method == "POST" else _form_data(shown))
    if request.method == "POST" and request.form.get("op") == "reset" and existing and department:
        db.session.delete(existing)
        reschedule_open_handoffs(utcnow(), department.id)
        db.session.commit()
        flash(f"{department.name} now follows the organisation's policy.")
        return redirect(url_for("nagging_admin.policies"), 303)
    if request.method == "POST" and form.validate():
        policy = existing or NagPolicy(department_id=department_id, **DEFAULTS)
        _apply(policy, form, organisation=department is None)
        db.session.add(policy)
        db.session.flush()
        moved = reschedule_open_handoffs(utcnow(), department_id)
        db.session.commit()
        flash(f"Saved; {moved} open handoffs were rescheduled under it.")
        return redirect(url_for("nagging_admin.policies"), 303)
    status = 422 if request.method == "POST" else 200
    return (
        render_template(
            "nagging/policy.html", form=form, department=department, has_own=existing is not None
        ),
        status,
    )


class _Data:
    def __init__(self, **values):
        self.__dict__.update(values)


def _form_data(policy: NagPolicy) -> _Data:
    from datetime import time

    return _Data(
        time_zone=policy.time_zone,
        always_open=policy.always_open,
        work_days=sorted(policy.work_day_numbers),
        day_start=time.fromisoformat(policy.day_start),
        day_end=time.fromisoformat(policy.day_end),
        holidays=policy.holidays,
        holiday_country=policy.holiday_country,
        ack_window_minutes=policy.ack_window_minutes,
        cadence_minutes=policy.cadence_minutes,
        escalate_after=policy.escalate_after,
        org_escalate_after=policy.org_escalate_after,
        due_soon_minutes=policy.due_soon_minutes,
        escalation_email=policy.escalation_email,
        escalation_name=policy.escalation_name,
    )


def _apply(policy: NagPolicy, form: PolicyForm, organisation: bool) -> None:
    policy.time_zone = form.time_zone.data
    policy.always_open = form.always_open.data
    # Round the clock the hours may be left empty: the policy keeps the ones it had, so that
    # unticking 24/7 later brings them back.
    if form.work_days.data:
        policy.work_days = ",".join(str(d) for d in sorted(form.work_days.data))
    if form.day_start.data is not None:
        policy.day_start = form.day_start.data.strftime("%H:%M")
    if form.day_end.data is not None:
        policy.day_end = form.day_end.data.strftime("%H:%M")
    policy.holidays = "\n".join(
        line.strip() for line in (form.holidays.data or "").splitlines() if line.strip()
    )
    policy.holiday_country = (form.holiday_country.data or "").strip().upper()
    policy.ack_window_minutes = form.ack_window_minutes.data
    policy.cadence_minutes = form.cadence_minutes.data
    policy.escalate_after = form.escalate_after.data
    policy.org_escalate_after = form.org_escalate_after.data
    policy.due_soon_minutes = form.due_soon_minutes.data
    if organisation:
        policy.escalation_email = (form.escalation_email.data or "").strip().lower()
        policy.escalation_name = (form.escalation_name.data or "").strip()
