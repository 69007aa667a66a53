"""People away: who is away when, who answers for them, and which departments have nobody.

A person marks themselves away (a lead marks a member of their department, an admin
anyone) from a first day to a last day of their own calendar, and may name a delegate. While
away they get no reminders; the delegate gets them in their place and may answer for the
person's departments, and every answer the delegate gives says whom it was for. A
department whose members are all away, with nobody answering for them, is named on the
board, and its reminders go on as for any department with nobody to remind: to its leads,
then the organisation's escalation contact.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from handoff.accounts.models import Absence, Person
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed

LONGEST = timedelta(days=366)  # an absence longer than this is a leaver, not an absence


def may_mark_away(actor: Person, person: Person) -> bool:
    """A person marks themselves away; a lead marks a member of a department they lead; an
    admin marks anyone."""
    return (
        actor.id == person.id
        or actor.is_admin
        or any(actor.is_lead_of(department_id) for department_id in person.department_ids)
    )


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(ZoneInfo("UTC"))


def mark_away(
    person: Person,
    *,
    first_day: date,
    last_day: date,
    delegate: Person | None,
    note: str,
    actor: Person,
    zone: ZoneInfo,
    now: datetime,
) -> Absence:
    """Record that `person` is away from `first_day` to `last_day` (days of `zone`, their
    time zone), with `delegate` answering for them; checked before anything is saved."""
    if not may_mark_away(actor, person):
        raise NotAllowed(
            f"Only {person.name}, a lead of their department or an administrator can mark "
            "them away."
        )
    if last_day < first_day:
        raise InvalidInput("The last day comes before the first.", field="last_day")
    today = now.astimezone(zone).date()
    if last_day < today:
        raise InvalidInput("The last day is in the past.", field="last_day")
    if last_day - first_day >= LONGEST:
        raise InvalidInput("An absence lasts at most a year.", field="last_day")
    starts_at, ends_at = _midnight(first_day, zone), _midnight(last_day + timedelta(days=1), zone)
    if first_day <= today:  # (from now: an absence ended earlier today does not overlap it)
        starts_at = max(starts_at, now)
    clash = _overlapping(person.id, starts_at, ends_at)
    if clash is not None:
        raise InvalidInput(f"{_whom(person, actor)} already away {span(clash)}.", field="first_day")
    if delegate is not None:
        others = [
            m.department.name for m in person.memberships if not actor.is_lead_of(m.department_id)
        ]
        if actor.id != person.id and not actor.is_admin and others:
            raise InvalidInput(
                f"{person.name} is also in {', '.join(sorted(others))}, which you do not lead: "
                f"only {person.name} or an administrator names who answers for them there. "
                "Mark them away without a delegate, or ask them.",
                field="delegate_id",
            )
        if delegate.id == person.id:
            raise InvalidInput(
                "Choose someone else to answer: nobody answers for themselves while away.",
                field="delegate_id",
            )
        if not delegate.active:
            raise InvalidInput(f"{delegate.name}'s account is closed.", field="delegate_id")
        clash = _overlapping(delegate.id, starts_at, ends_at)
        if clash is not None:
            raise InvalidInput(
                f"{delegate.name} is away {span(clash)} too: choose someone who is here.",
                field="delegate_id",
            )
    absence = Absence(
        person_id=person.id,
        delegate_id=delegate.id if delegate else None,
        first_day=first_day,
        last_day=last_day,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note.strip(),
        set_by_id=actor.id,
        created_at=now,
    )
    db.session.add(absence)
    db.session.flush()
    return absence


def end_absence(absence: Absence, actor: Person, zone: ZoneInfo, now: datetime) -> None:
    """The person is back (or will not be away after all): an absence not begun is removed,
    one under way ends now."""
    if not may_mark_away(actor, absence.person):
        raise NotAllowed(
            f"Only {absence.person.name}, a lead of their department or an administrator can "
            "change their absence."
        )
    if absence.ends_at <= now:
        return  # over already: nothing to end
    if absence.starts_at > now:
        db.session.delete(absence)
        return
    absence.ends_at = now
    absence.last_day = max(absence.first_day, now.astimezone(zone).date())


def _overlapping(person_id: int, starts_at: datetime, ends_at: datetime) -> Absence | None:
    return db.session.scalar(
        select(Absence)
        .where(
            Absence.person_id == person_id,
            Absence.starts_at < ends_at,
            Absence.ends_at > starts_at,
        )
        .order_by(Absence.starts_at)
        .limit(1)
    )


def _whom(person: Person, actor: Person) -> str:
    return "You are" if person.id == actor.id else f"{person.name} is"


def span(absence: Absence) -> str:
    """'from Mon 07 Dec to Fri 11 Dec', or 'on Mon 07 Dec'."""
    first, last = absence.first_day, absence.last_day
    if first == last:
        return f"on {first:%a %d %b}"
    return f"from {first:%a %d %b} to {last:%a %d %b}"


def absences_shown_to(person: Person, now: datetime) -> list[Absence]:
    """The absences under way or to come, soonest first: everyone's (who is away is no
    secret in an organisation, and a department with nobody here is named on the board)."""
    del person  # (everyone signed in sees the same list; who may change one is asked apart)
    query = (
        select(Absence)
        .where(Absence.ends_at > now)
        .options(selectinload(Absence.person).selectinload(Person.memberships))
        .order_by(Absence.starts_at, Absence.id)
    )  # (each shows its person's departments: read with them, not one query each)
    return list(db.session.scalars(query))


def absences_at(now: datetime) -> list[Absence]:
    """Every absence under way at `now`."""
    return list(
        db.session.scalars(
            select(Absence)
            .where(Absence.ends_at > now, Absence.starts_at <= now)
            .order_by(Absence.person_id, Absence.starts_at)
        )
    )


def absences_in(department_id: int, now: datetime) -> list[Absence]:
    """The absences under way at `now` of the department's people, soonest back first."""
    return list(
        db.session.scalars(
            select(Absence)
            .join(Membership, Membership.person_id == Absence.person_id)
            .where(
                Membership.department_id == department_id,
                Absence.ends_at > now,
                Absence.starts_at <= now,
            )
            .order_by(Absence.ends_at, Absence.id)
        )
    )


@dataclass
class Presence:
    """Who is away at a moment, who answers for them, and the departments nobody is here
    for: read once, for a round of reminders or a page."""

    away: dict[int, Absence] = field(default_factory=dict)  # person id → their absence

    @classmethod
    def at(cls, now: datetime) -> "Presence":
        presence = cls()
        for absence in absences_at(now):
            presence.away.setdefault(absence.person_id, absence)
        return presence

    def is_away(self, person_id: int) -> bool:
        return person_id in self.away

    def delegate_of(self, person_id: int) -> Person | None:
        """Who answers for an away person now (None: nobody, or they are away too)."""
        absence = self.away.get(person_id)
        delegate = absence.delegate if absence else None
        if delegate is None or not delegate.active or delegate.id in self.away:
            return None
        return delegate

    def unattended(self) -> list[tuple[str, list[Absence]]]:
        """The departments whose every member and lead is away with nobody answering for
        them: each its name and its people's absences, by name."""
        if not self.away:
            return []
        people: dict[int, list[int]] = defaultdict(list)
        names = {}
        for department_id, name, person_id in db.session.execute(
            select(Membership.department_id, Department.name, Membership.person_id)
            .join(Department, Department.id == Membership.department_id)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.active.is_(True))
        ):
            people[department_id].append(person_id)
            names[department_id] = name
        found = []
        for department_id, members in people.items():
            if all(p in self.away and self.delegate_of(p) is None for p in members):
                found.append((names[department_id], [self.away[p] for p in members]))
        return sorted(found, key=lambda pair: pair[0])
