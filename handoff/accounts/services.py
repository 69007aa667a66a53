"""Setting up people: one account per email; nobody takes away their own admin rights."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete

from handoff.accounts.models import Person, SignInFailure
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput


@dataclass(frozen=True)
class PersonInput:
    name: str
    email: str
    password: str  # empty: keep the one there is
    time_zone: str
    is_admin: bool
    active: bool


def add_person(given: PersonInput) -> Person:
    """A new person (the email must be free; a password is needed)."""
    if not given.password:
        raise InvalidInput("A new person needs a password.", field="password")
    if Person.by_email(given.email):
        raise InvalidInput("Someone already has that email.", field="email")
    person = Person(email=Person.normalise_email(given.email))
    _apply(person, given)

    db.session.add(person)
    db.session.flush()
    return person


def change_person(actor: Person, person: Person, given: PersonInput) -> None:
    """Change a person's account; a new password or closing it ends their sessions."""
    other = Person.by_email(given.email)
    if other is not None and other.id != person.id:
        raise InvalidInput("Someone else has that email.", field="email")
    if person.id == actor.id and not given.is_admin:
        raise InvalidInput("You cannot take away your own administrator rights.", field="is_admin")
    person.email = Person.normalise_email(given.email)
    _apply(person, given)


def _apply(person: Person, given: PersonInput) -> None:
    person.name = given.name.strip()
    person.time_zone = given.time_zone or None
    person.is_admin = given.is_admin
    if person.active and not given.active:
        person.end_sessions()  # closed: signed out everywhere, and not back on reopening
    person.active = given.active
    if given.password:
        person.set_password(given.password)  # a reset ends every session of theirs


def sign_in_window() -> timedelta:
    """How long a failed sign-in counts against its account and address."""
    return timedelta(minutes=current_app.config["SIGN_IN_WINDOW_MINUTES"])


def forget_old_failures(now: datetime) -> int:
    """Failed sign-ins older than the window count for nothing: delete them (each round does)."""
    old = delete(SignInFailure).where(SignInFailure.at <= now - sign_in_window())
    return db.session.execute(old).rowcount or 0
