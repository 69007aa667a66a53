"""A department's catalogue of standing promises, who is on duty, and its timeline."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.departments.hours import business_day_minutes, hours_of
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.errors import NotAllowed
from handoff.kernel.forms import database_id
from handoff.promises import services
from handoff.promises.forms import UNITS, OnDutyForm, PromiseForm
from handoff.promises.models import DepartmentEvent, StandingPromise
from handoff.promises.rules import describe_lead
from handoff.web import attempt

bp = Blueprint("promises", __name__)


@bp.before_request
@login_required
def _signed_in():
    """Anyone signed in reads the catalogues; leads change their own."""


def _people(department: Department) -> list[Person]:
    return sorted((m.person for m in department.memberships), key=lambda p: p.name)


def _suggested(args) -> dict:
    """A new promise's fields as a suggestion's link gives them (bounded, else left out)."""
    data = {"name": args.get("name", "")[:120], "covers": args.get("covers", "")[:2000]}
    lead = args.get("lead", "")
    if lead.isascii() and lead.isdigit() and int(lead) <= 365:
        data["lead"] = int(lead)
    if args.get("lead_unit") in UNITS:
        data["lead_unit"] = args["lead_unit"]
    return data


def _page(department, form, editing=None, status: int = 200, duty_form=None):
    promises = db.session.scalars(
        select(StandingPromise)
        .where(StandingPromise.department_id == department.id)
        .order_by(StandingPromise.active.desc(), StandingPromise.name)
    ).all()
    events = db.session.scalars(
        select(DepartmentEvent)
        .where(DepartmentEvent.department_id == department.id)
        .order_by(DepartmentEvent.created_at.desc(), DepartmentEvent.id.desc())
    ).all()
    hours = hours_of(department.id)
    if duty_form is None:
        duty_form = OnDutyForm(formdata=None, person_id=department.on_duty_person_id)
        duty_form.offer(_people(department))
    return (
        render_template(
            "promises/catalogue.html",
            department=department,
            promises=promises,
            events=events,
            form=form,
            duty_form=duty_form,
            editing=editing,
            lead_of=lambda p: describe_lead(p.lead_minutes, hours),
            may_edit=services.may_edit_catalogue(current_user, department),
        ),
        status,
    )


def _promise_of(department: Department, promise_id: int) -> StandingPromise:
    """One of the department's standing promises, or 404 (another's is not found here)."""
    promise = db.get_or_404(StandingPromise, promise_id)
    if promise.department_id != department.id:
        abort(404)
    return promise


@bp.get("/departments/<int:department_id>/promises")
def catalogue(department_id: int):
    """What anyone may promise on this department's behalf without asking."""
    department = db.get_or_404(Department, department_id)
    editing = None
    edit_id = request.args.get("edit", type=database_id)
    form = PromiseForm(formdata=None)
    if not edit_id and request.args.get("name"):  # filled in from a suggestion of insights
        form = PromiseForm(formdata=None, data=_suggested(request.args))
    if edit_id:
        editing = _promise_of(department, edit_id)
        form = PromiseForm.of(editing, business_day_minutes(department.id))
    return _page(department, form, editing)


@bp.post("/departments/<int:department_id>/promises")
@bp.post("/departments/<int:department_id>/promises/<int:promise_id>")
def save(department_id: int, promise_id: int | None = None):
    """Publish a standing promise, or change one (leads only)."""
    department = db.get_or_404(Department, department_id)
    promise = None
    if promise_id is not None:
        promise = _promise_of(department, promise_id)
    if not services.may_edit_catalogue(current_user, department):
        raise NotAllowed(f"Only {department.name}'s leads can change its promises.")
    form = PromiseForm()
    if not form.validate():
        return _page(department, form, promise, 422)
    given = form.promise(business_day_minutes(department.id))
    done, _ = attempt(
        form, services.save_promise, department, current_user, utcnow(), promise=promise, **given
    )
    if not done:
        return _page(department, form, promise, 422)
    flash("Saved. The department timeline says so.")
    return redirect(url_for("promises.catalogue", department_id=department.id), 303)


@bp.post("/departments/<int:department_id>/on-duty")
def on_duty(department_id: int):
    """Say who answers beyond-the-limits requests quickly."""
    department = db.get_or_404(Department, department_id)
    services.require_lead(current_user, department)  # before reading anything sent
    form = OnDutyForm().offer(_people(department))
    if not form.validate():
        return _page(department, PromiseForm(formdata=None), status=422, duty_form=form)
    person = db.session.get(Person, form.person_id.data) if form.person_id.data else None
    done, _ = attempt(form, services.set_on_duty, department, current_user, utcnow(), person)
    if not done:
        return _page(department, PromiseForm(formdata=None), status=422, duty_form=form)
    flash(f"On duty in {department.name}: {person.name if person else 'nobody'}.")
    return redirect(url_for("promises.catalogue", department_id=department.id), 303)
