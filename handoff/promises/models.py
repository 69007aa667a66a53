"""Each department's catalogue of standing promises, and its department timeline."""

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff.accounts.models import Person
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db


class StandingPromise(db.Model):
    """A promise anyone may make on a department's behalf without asking, within limits."""

    __tablename__ = "standing_promise"
    __table_args__ = (UniqueConstraint("department_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    covers: Mapped[str] = mapped_column(Text, default="")
    # The lead time in business minutes of the department's hours ("3 business days").
    lead_minutes: Mapped[int] = mapped_column(Integer)
    max_amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    max_quantity: Mapped[int | None] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    department: Mapped[Department] = relationship(lazy="joined", innerjoin=True)


class DepartmentEvent(db.Model):
    """One entry of a department's own append-only record (its catalogue, who is on duty)."""

    __tablename__ = "department_event"
    __table_args__ = (
        Index("ix_department_event_department_created", "department_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    summary: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    actor: Mapped[Person | None] = relationship(lazy="joined")
