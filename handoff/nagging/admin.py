"""Admins read the outbox and set the nag policies."""

import html
import re
from datetime import UTC

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from sqlalchemy import select

from handoff.departments.calendars import NEW, read_holidays
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput
from handoff.kernel.paging import DEFAULT_PAGE_SIZE, PAGE_SIZES, Cursor, keyset_page, page_size
from handoff.mail import FAILED, STATUSES, OutboxMessage, retry, smtp_configured
from handoff.nagging.forms import (
    MOST_CALENDAR_BYTES,
    HolidayDaysForm,
    HolidayFileForm,
    PolicyForm,
)
from handoff.nagging.outbox import STATE_WORDS, outbox_page, status_counts
from handoff.nagging.policies import follow_the_organisation, save_policy, shown_for
from handoff.nagging.replies import InboundReply
from handoff.web import zone_named

bp = Blueprint("nagging_admin", __name__, url_prefix="/admin")
MAX_SEARCH = 254  # an address at most


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


@bp.get("/outbox")
def outbox():
    """Every message written, newest first, with where it stands: a page at a time, of one
    status (?status=failed) or all, found by recipient or commitment (?q=)."""
    asked = request.args.get("status") or None
    status = asked if asked in STATUSES else None
    search = request.args.get("q", "")[:MAX_SEARCH]
    per = page_size(request.args.get("per", DEFAULT_PAGE_SIZE))
    page = outbox_page(
        status, search, per, after=request.args.get("after"), before=request.args.get("before")
    )
    kept = {k: v for k, v in (("status", status), ("q", search.strip()), ("per", per)) if v}
    if per == DEFAULT_PAGE_SIZE:
        kept.pop("per")
    links = {
        "first": url_for("nagging_admin.outbox", **kept)
        if request.args.get("after") or request.args.get("before")
        else None,
        "next": url_for("nagging_admin.outbox", **kept, after=page.after) if page.after else None,
        "previous": url_for("nagging_admin.outbox", **kept, before=page.before)
        if page.before
        else None,
    }
    return render_template(
        "nagging/outbox.html",
        messages=page.rows,
        counts=status_counts(search),
        states=STATE_WORDS,
        status=status,
        unknown_status=asked[:40] if asked and status is None else None,
        kept_per=per if per != DEFAULT_PAGE_SIZE else None,
        search=search,
        per=per,
        page_sizes=PAGE_SIZES,
        links=links,
        smtp=smtp_configured(),
        retention_days=current_app.config["MAIL_RETENTION_DAYS"],
    )


@bp.get("/outbox/<int:message_id>")
def message(message_id: int):
    """One message as its recipient sees it."""
    message = db.get_or_404(OutboxMessage, message_id)
    links = [
        (html.unescape(href), html.unescape(words))
        for href, words in re.findall(r'href="([^"]+)"[^>]*>([^<]+)</a>', message.body_html)
    ]
    return render_template("nagging/message.html", message=message, links=links, states=STATE_WORDS)


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
    return _policy_page(department, shown, form, HolidayFileForm(formdata=None), status)


def _policy_page(department, shown, form, calendar_form, status: int):
    return (
        render_template(
            "nagging/policy.html",
            form=form,
            calendar_form=calendar_form,
            department=department,
            has_own=department is not None and shown.own,
        ),
        status,
    )


def _policy_url(department) -> str:
    if department is None:
        return url_for("nagging_admin.policy")
    return url_for("nagging_admin.policy", department_id=department.id)


@bp.post("/policies/organisation/holidays/preview")
@bp.post("/policies/<int:department_id>/holidays/preview")
def holidays_preview(department_id: int | None = None):
    """The days an iCalendar file names, each with what adding it would do: nothing is
    saved until the admin adds them."""
    department = db.get_or_404(Department, department_id) if department_id else None
    shown = shown_for(department_id)
    calendar_form = HolidayFileForm()
    found = None
    if calendar_form.validate():
        hours = shown.hours
        try:
            found = read_holidays(
                calendar_form.calendar.data.read(MOST_CALENDAR_BYTES + 1),
                today=utcnow().astimezone(zone_named(hours.time_zone) or UTC).date(),
                known=hours.holiday_dates,
                work_days=hours.work_day_numbers,
            )
        except InvalidInput as error:
            calendar_form.calendar.errors = [*calendar_form.calendar.errors, str(error)]
    if found is None:
        form = PolicyForm.of(shown.hours, shown.policy)
        return _policy_page(department, shown, form, calendar_form, 422)
    new = [f.day for f in found if f.outcome == NEW]
    return render_template(
        "nagging/holidays_preview.html",
        department=department,
        found=found,
        new=new,
        hours=shown.hours,
        has_own=department is not None and shown.own,
        file_name=(calendar_form.calendar.data.filename or "")[:120],
        days_form=HolidayDaysForm(formdata=None, days=",".join(d.isoformat() for d in new)),
        back=_policy_url(department),
    )


@bp.post("/policies/organisation/holidays")
@bp.post("/policies/<int:department_id>/holidays")
def import_holidays(department_id: int | None = None):
    """Add the days a preview showed to the holidays; open work is planned anew."""
    department = db.get_or_404(Department, department_id) if department_id else None
    form = HolidayDaysForm()
    if not form.validate():
        raise InvalidInput(" ".join(form.days.errors or ["The days to add were not sent."]))
    known = shown_for(department_id).hours.holiday_dates
    added = [d for d in form.days.days if d not in known]
    merged = sorted(known | set(added))
    moved = save_policy(department_id, utcnow(), holidays="\n".join(d.isoformat() for d in merged))
    db.session.commit()
    whose = department.name if department else "the organisation"
    flash(
        f"{len(added)} holiday{'' if len(added) == 1 else 's'} added to {whose}'s hours; "
        f"{moved} open handoffs and tasks were rescheduled under them."
    )
    return redirect(_policy_url(department), 303)


@bp.get("/replies")
def replies():
    """Every reply to a reminder received, newest first: what it said, from whom, and what
    came of it (a forged or forwarded one is here, refused)."""
    per = page_size(request.args.get("per", DEFAULT_PAGE_SIZE))
    cursor = Cursor.read(request.args.get("after"), (int,)) or Cursor.read(
        request.args.get("before"), (int,), backwards=True
    )
    page = keyset_page(
        select(InboundReply), (InboundReply.id,), lambda r: (r.id,), cursor, per, descending=True
    )
    return render_template("nagging/replies.html", page=page, per=per)
