"""Admins set up departments, people and who belongs where."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.accounts.services import PersonInput, add_person, change_person
from handoff.admin.forms import DepartmentForm, MembershipForm, PersonForm
from handoff.departments import services as department_services
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db
from handoff.kernel.forms import choices
from handoff.web import attempt

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


@bp.get("/")
def index():
    return redirect(url_for("admin.departments"))


@bp.get("/departments")
def departments():
    """Every department with its people."""
    rows = db.session.scalars(select(Department).order_by(Department.name)).all()
    return render_template("admin/departments.html", departments=rows, form=DepartmentForm())


@bp.route("/departments/new", methods=["POST"])
def new_department():
    form = DepartmentForm()
    if form.validate():
        done, department = attempt(
            form, department_services.add_department, form.name.data, form.description.data
        )
        if done:
            flash(f"{department.name} was added.")
            return redirect(url_for("admin.department", department_id=department.id), 303)
    rows = db.session.scalars(select(Department).order_by(Department.name)).all()
    return render_template("admin/departments.html", departments=rows, form=form), 422


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def department(department_id: int):
    """Edit a department and manage its members and leads."""
    department = db.get_or_404(Department, department_id)
    form = DepartmentForm(obj=department)
    if request.method in ("GET", "HEAD"):
        return _department_page(department, form, _membership_form(department))
    if form.validate():
        given = (form.name.data, form.description.data)
        done, _ = attempt(form, department_services.change_department, department, *given)
        if done:
            flash("Saved.")
            return redirect(url_for("admin.department", department_id=department.id), 303)
    return _department_page(department, form, _membership_form(department), 422)


def _membership_form(department: Department, formdata=None) -> MembershipForm:
    form = MembershipForm(formdata=formdata)
    members = {m.person_id for m in department.memberships}
    people = db.session.scalars(select(Person).order_by(Person.name)).all()
    form.person_id.choices = choices(
        (p.id, f"{p.name} <{p.email}>") for p in people if p.id not in members
    )
    return form


def _department_page(department, form, membership_form, status=200):
    memberships = sorted(department.memberships, key=lambda m: (m.role != "lead", m.person.name))
    return (
        render_template(
            "admin/department.html",
            department=department,
            form=form,
            membership_form=membership_form,
            memberships=memberships,
        ),
        status,
    )


@bp.post("/departments/<int:department_id>/members")
def add_member(department_id: int):
    department = db.get_or_404(Department, department_id)
    form = _membership_form(department, request.form)
    if not form.validate():
        return _department_page(department, DepartmentForm(obj=department), form, 422)
    done, _ = attempt(
        form, department_services.add_member, department, form.person_id.data, form.role.data
    )
    if not done:
        return _department_page(department, DepartmentForm(obj=department), form, 422)
    return redirect(url_for("admin.department", department_id=department.id), 303)


@bp.post("/memberships/<int:membership_id>/role")
def change_role(membership_id: int):
    membership = db.get_or_404(Membership, membership_id)
    department_services.set_role(membership, request.form.get("role", ""))
    db.session.commit()
    return redirect(url_for("admin.department", department_id=membership.department_id), 303)


@bp.post("/memberships/<int:membership_id>/delete")
def remove_member(membership_id: int):
    membership = db.get_or_404(Membership, membership_id)
    department_id = membership.department_id
    department_services.remove_member(membership)
    db.session.commit()
    return redirect(url_for("admin.department", department_id=department_id), 303)


@bp.get("/people")
def people():
    rows = db.session.scalars(select(Person).order_by(Person.name)).all()
    return render_template("admin/people.html", people=rows)


@bp.route("/people/new", methods=["GET", "POST"])
def new_person():
    form = PersonForm()
    if request.method in ("GET", "HEAD"):
        return render_template("admin/person.html", form=form, person=None)
    if form.validate():
        done, person = attempt(form, add_person, _given(form))
        if done:
            flash(f"{person.name} was added. Now add them to a department.")
            return redirect(url_for("admin.person", person_id=person.id), 303)
    return render_template("admin/person.html", form=form, person=None), 422


@bp.route("/people/<int:person_id>", methods=["GET", "POST"])
def person(person_id: int):
    person = db.get_or_404(Person, person_id)
    form = PersonForm(obj=person)
    if request.method in ("GET", "HEAD"):
        return render_template("admin/person.html", form=form, person=person)
    if form.validate():
        done, _ = attempt(form, change_person, current_user, person, _given(form))
        if done:
            if person.id == current_user.id:
                login_user(person)  # a new password of one's own keeps this session
            flash("Saved.")
            return redirect(url_for("admin.person", person_id=person.id), 303)
    return render_template("admin/person.html", form=form, person=person), 422


def _given(form: PersonForm) -> PersonInput:
    return PersonInput(
        name=form.name.data,
        email=form.email.data,
        password=form.password.data or "",
        time_zone=form.time_zone.data or "",
        is_admin=form.is_admin.data,
        active=form.active.data,
    )
