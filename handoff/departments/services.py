"""Setting up departments: one name per department, whatever the case of its letters."""

from sqlalchemy import select

from handoff.departments.hours import DEFAULT_HOURS, WorkingHours
from handoff.departments.models import ROLES, Department, Membership, name_key
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput


def _require_free(name: str, department: Department | None) -> None:
    query = select(Department.id).where(Department.name_key == name_key(name))
    if department is not None:
        query = query.where(Department.id != department.id)
    if db.session.scalar(query) is not None:
        raise InvalidInput("A department with that name exists.", field="name")


def add_department(name: str, description: str) -> Department:
    """A new department (its name must be free)."""
    _require_free(name, None)
    department = Department(name=name.strip(), description=description or "")
    db.session.add(department)
    db.session.flush()
    return department


def change_department(department: Department, name: str, description: str) -> None:
    """Rename or describe a department (the new name must be free)."""
    _require_free(name, department)
    department.name = name.strip()
    department.description = description or ""


def add_member(department: Department, person_id: int, role: str) -> Membership:
    """Put a person in the department as a member or a lead."""
    _require_role(role)
    membership = Membership(person_id=person_id, department=department, role=role)
    db.session.add(membership)
    db.session.flush()
    return membership


def set_role(membership: Membership, role: str) -> None:
    """Make a member a lead, or a lead a member."""
    _require_role(role)
    membership.role = role


def remove_member(membership: Membership) -> None:
    """Take a person out of the department; if they were on duty, nobody is now."""
    department = membership.department
    if department.on_duty_person_id == membership.person_id:
        department.on_duty_person_id = None
    db.session.delete(membership)


def _require_role(role: str) -> None:
    if role not in ROLES:
        raise InvalidInput(f"A role is one of: {', '.join(ROLES)}.", field="role")


def set_hours(department_id: int | None, **settings) -> WorkingHours:
    """Give the department (None: the organisation) working hours of its own: the settings
    named change, the others keep what it works by now."""
    unknown = set(settings) - set(DEFAULT_HOURS)
    if unknown:
        raise TypeError(f"no such setting of working hours: {', '.join(sorted(unknown))}")
    if department_id is None:
        hours = db.session.scalar(select(WorkingHours).where(WorkingHours.department_id.is_(None)))
    else:
        hours = WorkingHours.own(department_id)
    if hours is None:
        current = WorkingHours.organisation()
        hours = WorkingHours(
            department_id=department_id, **{f: getattr(current, f) for f in DEFAULT_HOURS}
        )
        db.session.add(hours)
    for name, value in settings.items():
        setattr(hours, name, value)
    db.session.flush()
    return hours


def follow_organisation_hours(department_id: int) -> None:
    """The department gives up its own working hours and works the organisation's."""
    own = WorkingHours.own(department_id)
    if own is not None:
        db.session.delete(own)
        db.session.flush()
