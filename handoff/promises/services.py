"""Standing promises: judging a step against one, telling the department, keeping the catalogue."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.commitments import services as commitment_services
from handoff.departments.hours import hours_of
from handoff.departments.models import Department
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.kernel.events import HandoffRequested
from handoff.promises.models import DepartmentEvent, StandingPromise
from handoff.promises.rules import Terms, Verdict, describe_lead, judge


def terms_of(promise: StandingPromise) -> Terms:
    return Terms(
        name=promise.name,
        department=promise.department.name,
        lead_minutes=promise.lead_minutes,
        max_amount=promise.max_amount,
        max_quantity=promise.max_quantity,
        active=promise.active,
    )


def verdict_for(
    promise: StandingPromise,
    *,
    now: datetime,
    due_at: datetime,
    amount: Decimal | None = None,
    quantity: int | None = None,
) -> Verdict:
    """Judge a step against the promise, in the department's own business hours."""
    hours = hours_of(promise.department_id, now.year)
    return judge(
        terms_of(promise), now=now, due_at=due_at, hours=hours, amount=amount, quantity=quantity
    )


def lead_text(promise: StandingPromise) -> str:
    """'3 business days', in the department's own working day."""
    return describe_lead(promise.lead_minutes, hours_of(promise.department_id))


def verdict_for_step(step, now: datetime) -> Verdict | None:
    """Whether a route step (commitments.services.RouteStep) stays within the standing
    promise it names (None: it names none)."""
    if step.standing_promise is None:
        return None
    return verdict_for(
        step.standing_promise,
        now=now,
        due_at=step.due_at,
        amount=step.amount,
        quantity=step.quantity,
    )


def accept_within_standing_promise(event: HandoffRequested) -> None:
    """A handoff that names its department's standing promise and stays within it is accepted
    at once, by the promise; beyond it, the department must answer as usual."""
    handoff = event.handoff
    if handoff.standing_promise_id is None:
        return
    promise = db.session.get(StandingPromise, handoff.standing_promise_id)
    verdict = verdict_for(
        promise,
        now=event.at,
        due_at=handoff.due_at,
        amount=handoff.amount,
        quantity=handoff.quantity,
    )
    if verdict.covered:
        commitment_services.accept_by_standing_promise(handoff, promise.name, event.actor, event.at)


# --- the catalogue -------------------------------------------------------------------------


def active_promises() -> list[StandingPromise]:
    """Every standing promise anyone may make now, by department and name."""
    return list(
        db.session.scalars(
            select(StandingPromise)
            .join(StandingPromise.department)
            .where(StandingPromise.active.is_(True))
            .order_by(Department.name, StandingPromise.name)
        )
    )


def may_edit_catalogue(person: Person, department: Department) -> bool:
    """A department's leads (and admins) keep its catalogue and say who is on duty."""
    return person.is_admin or person.is_lead_of(department.id)


def require_lead(person: Person, department: Department) -> None:
    if not may_edit_catalogue(person, department):
        raise NotAllowed(f"Only {department.name}'s leads can change this.")


def _record(department: Department, actor: Person, now: datetime, summary: str) -> None:
    db.session.add(
        DepartmentEvent(
            department_id=department.id, actor_id=actor.id, summary=summary, created_at=now
        )
    )


def save_promise(
    department: Department,
    actor: Person,
    now: datetime,
    *,
    promise: StandingPromise | None,
    name: str,
    covers: str,
    lead_minutes: int,
    max_amount: Decimal | None,
    max_quantity: int | None,
    active: bool = True,
) -> StandingPromise:
    """Add a standing promise to the catalogue, or change one; the department timeline says so."""
    require_lead(actor, department)
    name = name.strip()
    clash = db.session.scalar(
        select(StandingPromise.id).where(
            StandingPromise.department_id == department.id,
            StandingPromise.name == name,
            StandingPromise.id != (promise.id if promise else -1),
        )
    )
    if clash:
        raise InvalidInput(
            f"{department.name} already has a standing promise called '{name}'.", field="name"
        )
    if lead_minutes < 0:
        raise InvalidInput("The lead time cannot be negative.", field="lead")
    created = promise is None
    if created:
        promise = StandingPromise(
            department_id=department.id, department=department, created_at=now
        )
        db.session.add(promise)
    before = _describe(promise) if not created else ""
    promise.name = name
    promise.covers = covers.strip()
    promise.lead_minutes = lead_minutes
    promise.max_amount = max_amount
    promise.max_quantity = max_quantity
    promise.active = active
    db.session.flush()
    after = _describe(promise)
    if created:
        _record(department, actor, now, f"{actor.name} published the standing promise {after}")
    elif before != after:
        _record(department, actor, now, f"{actor.name} changed {before} to {after}")
    return promise


def _describe(promise: StandingPromise) -> str:
    hours = hours_of(promise.department_id)
    limits = []
    if promise.max_amount is not None:
        limits.append(f"up to {promise.max_amount:,.2f}")
    if promise.max_quantity is not None:
        limits.append(f"at most {promise.max_quantity}")
    state = "" if promise.active else ", withdrawn"
    extra = f", {', '.join(limits)}" if limits else ""
    return f"'{promise.name}' ({describe_lead(promise.lead_minutes, hours)}{extra}{state})"


def set_on_duty(
    department: Department, actor: Person, now: datetime, person: Person | None
) -> None:
    """Say who answers beyond-the-limits requests quickly (a lead, or anyone in it)."""
    require_lead(actor, department)
    if person is not None and not any(m.department_id == department.id for m in person.memberships):
        raise InvalidInput(f"{person.name} is not in {department.name}.", field="person_id")
    if department.on_duty_person_id == (person.id if person else None):
        return
    department.on_duty_person_id = person.id if person else None
    if person is None:
        _record(department, actor, now, f"{actor.name} took everyone off duty")
    elif person.id == actor.id:
        _record(department, actor, now, f"{actor.name} put themselves on duty")
    else:
        _record(department, actor, now, f"{actor.name} put {person.name} on duty")
