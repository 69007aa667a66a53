"""Setting up departments: one name per department, whatever the case of its letters."""

from sqlalchemy import select

from handoff.departments.models import Department, name_key
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
