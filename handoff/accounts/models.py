"""People who sign in."""

import hmac
import secrets
from datetime import date, datetime
from functools import lru_cache

from flask_login import UserMixin
from sqlalchemy import Boolean, Date, ForeignKey, Index, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship, selectinload
from werkzeug.security import check_password_hash, generate_password_hash

from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db


@lru_cache(maxsize=1)
def _decoy_hash() -> str:
    """A hash made the way real ones are, of a password nobody has."""
    return generate_password_hash(secrets.token_hex(16))


class Person(UserMixin, db.Model):
    __tablename__ = "person"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # How reminders reach this person: "immediate" digests, or one "morning" digest a day.
    digest_mode: Mapped[str] = mapped_column(
        String(16), default="immediate", server_default="immediate"
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of every session and remember-me cookie; a new one ends them all (sign-out,
    # a new password, an admin's reset, closing the account).
    session_token: Mapped[str] = mapped_column(String(64), default=lambda: secrets.token_hex(16))

    memberships: Mapped[list["Membership"]] = relationship(  # noqa: F821
        back_populates="person", cascade="all, delete-orphan"
    )
    absences: Mapped[list["Absence"]] = relationship(
        foreign_keys="Absence.person_id", viewonly=True, order_by="Absence.starts_at"
    )

    @property
    def is_active(self) -> bool:
        return self.active

    def get_id(self) -> str:
        """What a session or remember-me cookie holds (asked when they sign in): the person,
        their session token, and when they signed in, which bounds the cookie's life on the
        server however long a browser keeps it."""
        return f"{self.id}:{self.session_token}:{int(utcnow().timestamp())}"

    def holds(self, token: str) -> bool:
        """Whether a cookie's token is this person's current one."""
        return hmac.compare_digest(self.session_token.encode(), token.encode())

    def end_sessions(self) -> None:
        """End every session and remember-me cookie of this person, everywhere."""
        self.session_token = secrets.token_hex(16)

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password (Werkzeug's default method); every session
        signed in with the old one ends."""
        self.password_hash = generate_password_hash(password)
        self.end_sessions()

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

    @staticmethod
    def check_no_password(password: str) -> bool:
        """Spend the time a real password check takes, for an email nobody has (so that the
        answer's timing does not tell whether an account exists); always False."""
        check_password_hash(_decoy_hash(), password)
        return False

    @property
    def department_ids(self) -> frozenset[int]:
        """The departments this person belongs to, as member or lead."""
        return frozenset(m.department_id for m in self.memberships)

    @property
    def departments(self) -> list:
        """This person's departments, by name."""
        return sorted((m.department for m in self.memberships), key=lambda d: d.name)

    def is_lead_of(self, department_id: int) -> bool:
        """Whether this person leads the department."""
        return any(m.department_id == department_id and m.role == "lead" for m in self.memberships)

    def belongs_to(self, department_id: int) -> bool:
        """Whether this person may act for the department (members, leads and admins); a
        delegate answers its handoffs for someone away (`acting_for`), and no more."""
        return self.is_admin or department_id in self.department_ids

    def delegations_at(self, now: datetime) -> list["Absence"]:
        """The absences under way at `now` whose person this one answers for (the absent
        person's account open): one query, with their memberships, kept for the minute within
        one transaction."""
        transaction = db.session().get_transaction()
        kept = self.__dict__.get("_delegations")
        if kept and kept[2] is transaction and abs((kept[0] - now).total_seconds()) < 60:
            return kept[1]
        found = list(
            db.session.scalars(
                select(Absence)
                .join(Person, Person.id == Absence.person_id)
                .where(
                    Absence.delegate_id == self.id,
                    Absence.starts_at <= now,
                    Absence.ends_at > now,
                    Person.active.is_(True),
                )
                .options(selectinload(Absence.person).selectinload(Person.memberships))
                .order_by(Absence.starts_at, Absence.id)
            )
        )
        self.__dict__["_delegations"] = (now, found, transaction)
        return found

    def acting_for(self, department_id: int, now: datetime | None = None) -> "Person | None":
        """Whom this person answers for in the department at `now` (the clock's now when not
        given): a member who is away and named them as delegate; None when they act as
        themselves (they belong to it, or cover nobody there)."""
        if department_id in self.department_ids:
            return None
        for absence in self.delegations_at(now or utcnow()):
            if department_id in absence.person.department_ids:
                return absence.person
        return None

    def covered_departments(self, now: datetime | None = None) -> list:
        """The departments this person answers for at `now` as a delegate (not their own)."""
        own = self.department_ids
        found = {
            m.department.id: m.department
            for absence in self.delegations_at(now or utcnow())
            for m in absence.person.memberships
            if m.department_id not in own
        }
        return sorted(found.values(), key=lambda d: d.name)

    def acting_department_ids(self, now: datetime | None = None) -> frozenset[int]:
        """This person's departments and those they answer for as a delegate at `now`."""
        return self.department_ids | {d.id for d in self.covered_departments(now)}

    def acting_departments(self, now: datetime | None = None) -> list:
        """The departments whose inboxes are this person's now: their own, then those they
        answer for while a member is away."""
        return self.departments + self.covered_departments(now)

    @staticmethod
    def normalise_email(email: str) -> str:
        """Emails are compared without case or surrounding spaces."""
        return email.strip().lower()

    @classmethod
    def by_email(cls, email: str) -> "Person | None":
        """The person with this email, if any."""
        return db.session.scalar(select(cls).where(cls.email == cls.normalise_email(email)))


class Absence(db.Model):
    """A person away, from their first day to their last (in their own calendar), and who
    answers for them in their departments meanwhile. `starts_at`/`ends_at` bound it in UTC
    (the first day's midnight and the midnight after the last, in the person's time zone),
    so whether someone is away at a moment is a comparison, on every database."""

    __tablename__ = "absence"
    __table_args__ = (
        Index("ix_absence_person", "person_id", "ends_at"),
        Index("ix_absence_delegate", "delegate_id", "ends_at"),
        Index("ix_absence_ends", "ends_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"))
    delegate_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    first_day: Mapped[date] = mapped_column(Date)
    last_day: Mapped[date] = mapped_column(Date)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(200), default="", server_default="")
    set_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    person: Mapped[Person] = relationship(foreign_keys=[person_id], lazy="joined", innerjoin=True)
    delegate: Mapped[Person | None] = relationship(foreign_keys=[delegate_id], lazy="joined")
    set_by: Mapped[Person | None] = relationship(foreign_keys=[set_by_id])

    def covers(self, now: datetime) -> bool:
        """Whether the person is away at `now`."""
        return self.starts_at <= now < self.ends_at


class SignInFailure(db.Model):
    """A failed sign-in: counted per account and per client address to throttle guessing."""

    __tablename__ = "sign_in_failure"
    __table_args__ = (
        Index("ix_sign_in_failure_account", "account", "at"),
        Index("ix_sign_in_failure_address", "address", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    account: Mapped[str] = mapped_column(String(254))  # the email typed, normalised
    address: Mapped[str] = mapped_column(String(64))  # the client's address (IPv6: its /64)
