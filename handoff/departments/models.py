"""Departments and who belongs to them."""

import unicodedata
from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from handoff.accounts.models import Person
from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db

ROLES = ("member", "lead")
NAME_KEY_LENGTH = 200


def name_key(name: str) -> str:
    """What makes two department names the same: Unicode case and width folded, spaces
    collapsed, invisible characters left out ("Ärger", "ärger", " ÄRGER " and "Ärger" with a
    zero-width space are one name), in Python, so SQLite agrees."""
    visible = "".join(c for c in name if unicodedata.category(c) != "Cf")  # zero-width, bidi …
    folded = " ".join(unicodedata.normalize("NFKC", visible).casefold().split())
    return folded[:NAME_KEY_LENGTH]  # NFKC may lengthen a name (a ligature becomes letters)


class Department(db.Model):
    __tablename__ = "department"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    # Unique: two names that differ only in case are the same department, on every database.
    name_key: Mapped[str] = mapped_column(String(NAME_KEY_LENGTH), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Who answers beyond-the-limits requests quickly right now.
    on_duty_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))

    memberships: Mapped[list["Membership"]] = relationship(
        back_populates="department", cascade="all, delete-orphan"
    )
    on_duty: Mapped[Person | None] = relationship(foreign_keys=[on_duty_person_id])

    @validates("name")
    def _keep_key(self, _attribute, name: str) -> str:
        self.name_key = name_key(name)
        return name

    def __repr__(self) -> str:
        return f"<Department {self.name}>"


class Membership(db.Model):
    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("person_id", "department_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[int] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(16), default="member")

    person: Mapped[Person] = relationship(back_populates="memberships", foreign_keys=[person_id])
    department: Mapped[Department] = relationship(back_populates="memberships", lazy="joined")
