"""Admins set up departments, people and who belongs where."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user
from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.admin.forms import DepartmentForm, MembershipForm, PersonForm
from handoff.departments.models import Department, Membership, name_key
from handoff.kernel.db import db
from handoff.kernel.forms import choices

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _admins_only():
    if not current_user.is_admin:
        abort(403)


def _get(model, ident):
    thing = db.session.get(model, ident)
    if thing is None:
        abort(404)
    return thing


def _name_taken(name: str, exclude_id: int | None) -> bool:
    query = select(Department.id).where(Department.name_key == name_key(name))
    if exclude_id:
        query = query.where(Department.id != exclude_id)
    return db.session.scalar(query) is not None


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
    if form.validate() and _name_taken(form.name.data, None):
        form.name.errors.append("A department with that name exists.")
    elif form.validate():
        department = Department(
            name=form.name.data.strip(), description=form.description.data or ""
        )
        db.session.add(department)
        db.session.commit()
        flash(f"{department.name} was added.")
        return redirect(url_for("admin.department", department_id=department.id), 303)
    rows = db.session.scalars(select(Department).order_by(Department.name)).all()
    return render_template("admin/departments.html", departments=rows, form=form), 422


@bp.route("/departments/<int:department_id>", methods=["GET", "POST"])
def department(department_id: int):
    """Edit a department and manage its members and leads."""
    department = _get(Department, department_id)
    form = DepartmentForm(obj=department)
    status = 200
    if request.method == "POST":
        if form.validate() and _name_taken(form.name.data, department.id):
            form.name.errors.append("A department with that name exists.")
        elif form.validate():
            department.name = form.name.data.strip()
            department.description = form.description.data or ""
            db.session.commit()
            flash("Saved.")
            return redirect(url_for("admin.department", department_id=department.id), 303)
        status = 422
    return _department_page(department, form, _membership_form(department), status)


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
    department = _get(Department, department_id)
    form = _membership_form(department, request.form)
    if not form.validate():
        return _department_page(department, DepartmentForm(obj=department), form, 422)
    db.session.add(
        Membership(person_id=form.person_id.data, department=department, role=form.role.data)
    )
    db.session.commit()
    return redirect(url_for("admin.department", department_id=department.id), 303)


@bp.post("/memberships/<int:membership_id>/role")
def change_role(membership_id: int):
    membership = _get(Membership, membership_id)
    role = request.form.get("role")
    if role not in ("member", "lead"):
        abort(422)
    membership.role = role
    db.session.commit()
    return redirect(url_for("admin.department", department_id=membership.department_id), 303)


@bp.post("/memberships/<int:membership_id>/delete")
def remove_member(membership_id: int):
    membership = _get(Membership, membership_id)
    department_id = membership.department_id
    db.session.delete(membership)
    db.session.commit()
    return redirect(url_for("admin.department", department_id=department_id), 303)


@bp.get("/people")
def people():
    rows = db.session.scalars(select(Person).order_by(Person.name)).all()
    return render_template("admin/people.html", people=rows)


@bp.route("/people/new", methods=["GET", "POST"])
def new_person():
    form = PersonForm()
    if request.method == "POST":
        if form.validate() and not form.password.data:
            form.password.errors.append("A new person needs a password.")
        elif form.validate() and Person.by_email(form.email.data):
            form.email.errors.append("Someone already has that email.")
        elif form.validate():
            person = Person(email=Person.normalise_email(form.email.data))
            _apply_person_form(person, form)
            db.session.add(person)
            db.session.commit()
            flash(f"{person.name} was added. Now add them to a department.")
            return redirect(url_for("admin.person", person_id=person.id), 303)
        return render_template("admin/person.html", form=form, person=None), 422
    return render_template("admin/person.html", form=form, person=None)


@bp.route("/people/<int:person_id>", methods=["GET", "POST"])
def person(person_id: int):
    person = _get(Person, person_id)
    form = PersonForm(obj=person)
    if request.method == "POST":
        other = Person.by_email(form.email.data or "")
        if form.validate() and other and other.id != person.id:
            form.email.errors.append("Someone else has that email.")
        elif form.validate() and person.id == current_user.id and not form.is_admin.data:
            form.is_admin.errors.append("You cannot take away your own administrator rights.")
        elif form.validate():
            person.email = Person.normalise_email(form.email.data)
            _apply_person_form(person, form)
            db.session.commit()
            if person.id == current_user.id:
                login_user(person)  # a new password of one's own keeps this session
            flash("Saved.")
            return redirect(url_for("admin.person", person_id=person.id), 303)
        return render_template("admin/person.html", form=form, person=person), 422
    return render_template("admin/person.html", form=form, person=person)


def _apply_person_form(person: Person, form: PersonForm) -> None:
    person.name = form.name.data.strip()
    person.time_zone = form.time_zone.data or None
    person.is_admin = form.is_admin.data
    if person.active and not form.active.data:
        person.end_sessions()  # closed: signed out everywhere, and not back on reopening
    person.active = form.active.data
    if form.password.data:
        person.set_password(form.password.data)  # a reset ends every session of theirs
