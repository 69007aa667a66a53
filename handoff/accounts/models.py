"""People who sign in."""

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import Boolean, String, select
from sqlalchemy.orm import Mapped, mapped_column, relationship
from werkzeug.security import check_password_hash, generate_password_hash

from handoff.clock import utcnow
from handoff.database import UTCDateTime
from handoff.extensions import db


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

    memberships: Mapped[list["Membership"]] = relationship(  # noqa: F821
        back_populates="person", cascade="all, delete-orphan"
    )

    @property
    def is_active(self) -> bool:
        return self.active

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password (Werkzeug's default method)."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """Whether the password matches the stored hash."""
        return check_password_hash(self.password_hash, password)

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
        """Whether this person may act for the department (members, leads and admins)."""
        return self.is_admin or department_id in self.department_ids

    @staticmethod
    def normalise_email(email: str) -> str:
        """Emails are compared without case or surrounding spaces."""
        return email.strip().lower()

    @classmethod
    def by_email(cls, email: str) -> "Person | None":
        """The person with this email, if any."""
        return db.session.scalar(select(cls).where(cls.email == cls.normalise_email(email)))
