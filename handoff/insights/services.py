"""Setting a department's targets: an admin, or one of the department's leads."""

from datetime import datetime

from handoff.accounts.models import Person
from handoff.departments.models import Department
from handoff.insights.models import Target
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed


def may_set_targets(person: Person, department: Department) -> bool:
    return person.is_admin or person.is_lead_of(department.id)


def targets_of(department_ids) -> dict[int, Target]:
    """The departments' targets, by department (those with none left out)."""
    if not department_ids:
        return {}
    return {
        t.department_id: t
        for t in db.session.scalars(
            db.select(Target).where(Target.department_id.in_(list(department_ids)))
        )
    }


def set_targets(
    department: Department,
    actor: Person,
    now: datetime,
    *,
    in_window: int | None,
    on_time: int | None,
) -> Target:
    """Set (or clear, with None) what the department aims for, in percent."""
    if not may_set_targets(actor, department):
        raise NotAllowed(f"Only an administrator or a lead of {department.name} sets its targets.")
    for name, value in (("in_window", in_window), ("on_time", on_time)):
        if value is not None and not 1 <= value <= 100:
            raise InvalidInput("A target is a share from 1 to 100 %.", field=name)
    target = db.session.get(Target, department.id) or Target(department_id=department.id)
    target.in_window, target.on_time = in_window, on_time
    target.set_by_id, target.set_at = actor.id, now
    db.session.add(target)
    db.session.flush()
    return target
