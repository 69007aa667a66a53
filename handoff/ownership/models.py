"""The organisation's settings for customer ownership, and "tell the customer" tasks."""

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment, Handoff
from handoff.departments.models import Department
from handoff.kernel import events
from handoff.kernel.db import UTCDateTime, db

DEFAULT_TELL_MINUTES = 120


class OrganisationSettings(db.Model):
    """Organisation-wide choices; one row (defaults when there is none yet)."""

    __tablename__ = "organisation_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "You break it, you own it": the department that breaks a promise talks to the customer.
    owner_moves: Mapped[bool] = mapped_column(Boolean, default=True)
    # How much business time the customer owner has to tell the customer.
    tell_customer_minutes: Mapped[int] = mapped_column(Integer, default=DEFAULT_TELL_MINUTES)

    @classmethod
    def current(cls) -> "OrganisationSettings":
        row = db.session.scalar(db.select(cls).order_by(cls.id).limit(1))
        return row or cls(owner_moves=True, tell_customer_minutes=DEFAULT_TELL_MINUTES)


class Reason:
    """Why the customer must be told (the reasons a promise breaks)."""

    DECLINED = events.DECLINED
    DATE_MOVED = events.DATE_MOVED
    LATE = events.LATE


class CustomerTask(db.Model):
    """The customer must be told that a promise broke: whose job it is, and by when.

    Nagged like a handoff (a notice first, then reminders from the deadline on the
    department's cadence) until someone marks it told with what the customer was told,
    or a later break passes the conversation on.
    """

    __tablename__ = "customer_task"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitment.id"), index=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoff.id"))  # the part that broke
    reason: Mapped[str] = mapped_column(String(16))
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # Who talked to the customer before this task moved the conversation (None: nobody moved).
    from_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    # What the customer already heard before this task began (earlier tasks' notes).
    carried: Mapped[str] = mapped_column(Text, default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Closed: "told" (with a note of what the customer was told) or "passed_on".
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    outcome: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    # Nagging: number 0 is the notice, 1… the reminders after the deadline.
    next_nag_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    nags_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_nagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    commitment: Mapped[Commitment] = relationship(lazy="joined", innerjoin=True)
    handoff: Mapped[Handoff] = relationship(lazy="joined", innerjoin=True)
    department: Mapped[Department] = relationship(
        foreign_keys=[department_id], lazy="joined", innerjoin=True
    )
    from_department: Mapped[Department | None] = relationship(
        foreign_keys=[from_department_id], lazy="joined"
    )
    person: Mapped[Person | None] = relationship(foreign_keys=[person_id], lazy="joined")
    closed_by: Mapped[Person | None] = relationship(foreign_keys=[closed_by_id], lazy="joined")

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def why(self) -> str:
        return reason_text(self.reason, self.handoff.department.name)


def reason_text(reason: str, department: str) -> str:
    """'Billing declined', 'Installation's counter moved the customer's date', …"""
    if reason == Reason.DECLINED:
        return f"{department} declined"
    if reason == Reason.DATE_MOVED:
        return f"{department}'s counter moved the customer's date"
    return f"{department} is past its due time and not done"
