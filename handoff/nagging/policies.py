"""Setting a department's (or the organisation's) hours and nag policy, which admins do on
one page; every open reminder is planned again under them."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from handoff.departments.hours import DEFAULT_HOURS, WorkingHours
from handoff.departments.services import follow_organisation_hours, set_hours
from handoff.kernel.db import db
from handoff.nagging.models import DEFAULTS, NagPolicy
from handoff.nagging.schedule import reschedule_open_work

HOURS_FIELDS = tuple(DEFAULT_HOURS)
POLICY_FIELDS = tuple(DEFAULTS)


@dataclass(frozen=True)
class Shown:
    """What a department works by: its hours and its policy, its own or the organisation's."""

    hours: WorkingHours
    policy: NagPolicy
    own: bool


def shown_for(department_id: int | None) -> Shown:
    """The hours and policy a department (None: the organisation) follows now."""
    if department_id is None:
        return Shown(WorkingHours.organisation(), NagPolicy.organisation(), own=True)
    hours, policy = WorkingHours.own(department_id), _own_policy(department_id)
    return Shown(
        hours or WorkingHours.organisation(),
        policy or NagPolicy.organisation(),
        own=hours is not None or policy is not None,
    )


def save_policy(department_id: int | None, now: datetime, **settings) -> int:
    """Give the department (None: the organisation) its own hours and policy: the settings
    named change, the others keep what it follows now. Answer how many open handoffs and
    tasks to tell a customer were planned anew."""
    unknown = set(settings) - set(HOURS_FIELDS) - set(POLICY_FIELDS)
    if unknown:
        raise TypeError(f"no such setting: {', '.join(sorted(unknown))}")
    set_hours(department_id, **{k: v for k, v in settings.items() if k in HOURS_FIELDS})
    policy = _own_policy(department_id)
    if policy is None:
        current = shown_for(department_id).policy
        policy = NagPolicy(
            department_id=department_id, **{f: getattr(current, f) for f in POLICY_FIELDS}
        )
        db.session.add(policy)
    for name, value in settings.items():
        if name in POLICY_FIELDS:
            setattr(policy, name, value)
    db.session.flush()
    return reschedule_open_work(now, department_id)


def follow_the_organisation(department_id: int, now: datetime) -> int:
    """The department gives up its own hours and policy and follows the organisation's."""
    follow_organisation_hours(department_id)
    own = _own_policy(department_id)
    if own is not None:
        db.session.delete(own)
        db.session.flush()
    return reschedule_open_work(now, department_id)


def _own_policy(department_id: int | None) -> NagPolicy | None:
    condition = (
        NagPolicy.department_id.is_(None)
        if department_id is None
        else NagPolicy.department_id == department_id
    )
    return db.session.scalar(select(NagPolicy).where(condition))
