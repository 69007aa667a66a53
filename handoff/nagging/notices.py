"""Recording what someone must hear: one nag row per recipient, inserted once.

Every reminder, notice and piece of news that may end in a mail is written here, by the
sweep, by a standing promise's acceptance and by a move of the customer conversation. A row
names what it is about (a handoff and its series, or a task to tell the customer), its kind,
number and level, the recipient, and the department whose business hours the recipient is
reached in. It then waits (`mail_after`) for the digest step, which mails it while it is
still true and the recipient is in hours, or drops it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace

from sqlalchemy import select

from handoff.accounts.models import Person
from handoff.departments.away import Presence
from handoff.departments.models import Membership
from handoff.kernel.db import db, insert_ignore
from handoff.kernel.events import AcceptedByStandingPromise, CustomerOwnerChanged
from handoff.nagging.models import Nag
from handoff.nagging.rules import Kind, Level


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    person_id: int | None
    via_department_id: int | None  # whose hours they are reached in; None: the organisation's


class People:
    """Who can receive a department's reminders at `now`: active members and leads, with an
    email (each an id, an email and a name: rows, not entities, so a sweep reads them once).
    Someone away is left out, and the delegate who answers for them takes their place."""

    def __init__(self, now: datetime, department_id: int | None = None):
        query = (
            select(Membership.department_id, Membership.role, Person.id, Person.email, Person.name)
            .join(Person, Person.id == Membership.person_id)
            .where(Person.active.is_(True), Person.email != "")
            .order_by(Person.name)
        )
        if department_id is not None:  # (one department's, or everyone's)
            query = query.where(Membership.department_id == department_id)
        rows = db.session.execute(query).all()
        presence = Presence.at(now)
        self.members: dict[int, list] = defaultdict(list)
        self.leads: dict[int, list] = defaultdict(list)
        for row in rows:
            if presence.is_away(row.id):
                delegate = presence.delegate_of(row.id)
                if delegate is None or not delegate.email:
                    continue
                row = SimpleNamespace(
                    department_id=row.department_id,
                    role=row.role,
                    id=delegate.id,
                    email=delegate.email,
                    name=delegate.name,
                )
            (self.leads if row.role == "lead" else self.members)[row.department_id].append(row)
        for lists in (self.members, self.leads):
            for department_id, persons in lists.items():  # (a delegate once a department)
                seen: set[int] = set()
                lists[department_id] = [p for p in persons if not (p.id in seen or seen.add(p.id))]


def people_of(department_id: int, now: datetime) -> list[Recipient]:
    """Every active member and lead of a department who has an address and is here at
    `now` (or the delegate of one who is away), by name."""
    people = People(now, department_id)
    everyone = {p.id: p for p in people.members[department_id] + people.leads[department_id]}
    ordered = sorted(everyone.values(), key=lambda p: p.name)
    return [Recipient(p.email, p.name, p.id, department_id) for p in ordered]


def record(about: dict, *reminder) -> int:
    """Insert the rows of a reminder (`about`, then what `rows_for` takes), one per recipient;
    a row whose key exists already is not inserted.

    `about` is `{"handoff_id": …, "series": …}` or `{"task_id": …}`. Answer how many rows
    were new: 0 means another sweep recorded this very reminder first.
    """
    return insert_ignore(Nag, rows_for(about, *reminder), key_of(about))


def key_of(about: dict) -> list[str]:
    """The columns that make a reminder unique: of a handoff's series, or of a task."""
    if "handoff_id" in about:
        return ["handoff_id", "series", "number", "recipient_email"]
    return ["task_id", "kind", "number", "recipient_email"]


def rows_for(
    about: dict,
    kind: Kind,
    number: int,
    level: Level | int,
    recipients: list[Recipient],
    now: datetime,
) -> list[dict]:
    """The nag rows of one reminder, one per recipient."""
    return [
        {
            "series": 0,
            **about,
            "number": number,
            "kind": Kind(kind).value,
            "level": int(level),
            "recipient_email": r.email,
            "recipient_name": r.name,
            "person_id": r.person_id,
            "via_department_id": r.via_department_id,
            "created_at": now,
            "mail_after": now,
        }
        for r in recipients
    ]


def tell_of_acceptance(event: AcceptedByStandingPromise) -> None:
    """Put the news of a handoff accepted by standing promise into its people's next digest,
    in the department's own hours (news, not a reminder)."""
    handoff = event.handoff
    db.session.flush()
    about = {"handoff_id": handoff.id, "series": handoff.nag_series}
    record(about, Kind.FYI, 0, 0, people_of(handoff.department_id, event.at), event.at)


def tell_of_hand_over(event: CustomerOwnerChanged) -> None:
    """The department that talked to the customer hears once, in its own hours, who does now."""
    about = {"task_id": event.task.id}
    record(about, Kind.HANDOVER, 0, 0, people_of(event.from_department_id, event.at), event.at)
