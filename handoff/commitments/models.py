"""Commitments, their handoffs, the timeline and the discussion."""

from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
    text,
)
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from handoff.accounts.models import Person
from handoff.commitments.lifecycle import OPEN_STATES, UNSETTLED_STATES, State
from handoff.commitments.status import HandoffFacts, Status, board_facts, derive_status
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel.clock import utcnow
from handoff.kernel.db import MAX_INT, UTCDateTime, db

# The longest text each thing takes, as every surface (the forms, the API) checks it.
LIMITS = {
    "title": 200,
    "details": 4000,
    "ask": 500,
    "note": 1000,
    "reason": 1000,
    "terms": 500,
    "customer_name": 160,
    "customer_email": 254,
    "customer_phone": 40,
    "customer_account_ref": 40,
}
CHANNELS = {
    "phone": "Phone",
    "email": "Email",
    "in_person": "In person",
    "web": "Web",
    "chat": "Chat",
}
# The rows of the index of accepted work not yet noted late (the query says it word for
# word, values written in, so that both databases see that the index holds what it asks).
NOT_YET_LATE_WHERE = "state = 'accepted' AND late_noted_at IS NULL"
NOT_YET_LATE = {
    "sqlite_where": text(NOT_YET_LATE_WHERE),
    "postgresql_where": text(NOT_YET_LATE_WHERE),
}
# References read out on the phone start at C-1001.
REFERENCE_OFFSET = 1000


class Commitment(db.Model):
    """A promise made to a customer."""

    __tablename__ = "commitment"
    __table_args__ = (
        # the board: open commitments in the customer's date order, overdue ones counted;
        # each row's status facts after the order, so that a page by urgency reads each
        # status's part from the index alone and stops at a page
        Index(
            "ix_commitment_board",
            "on_board",
            "promised_at",
            "id",
            "overdue_from",
            "troubled",
            "answer_due_at",
        ),
        Index("ix_commitment_board_overdue", "on_board", "overdue_from"),
        # a department's own open promises (its board filter, the counters it must settle)
        Index("ix_commitment_owner_board", "owner_department_id", "on_board", "promised_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customer.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    details: Mapped[str] = mapped_column(Text, default="")
    channel: Mapped[str] = mapped_column(String(16))
    promised_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    # The owner side: the department that made the promise and settles counters.
    owner_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"), index=True)
    made_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    # Who must speak to the customer about this commitment right now.
    customer_owner_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    customer_owner_person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    cancel_reason: Mapped[str] = mapped_column(Text, default="")
    # What its status follows from (commitments.status.BoardFacts), kept true at each flush:
    # the board pages, sorts and counts by these in SQL instead of deriving every status.
    on_board: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    overdue_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    troubled: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    customer: Mapped[Customer] = relationship(lazy="joined", innerjoin=True)
    owner_department: Mapped[Department] = relationship(
        foreign_keys=[owner_department_id], lazy="joined", innerjoin=True
    )
    made_by: Mapped[Person] = relationship(foreign_keys=[made_by_id], lazy="joined", innerjoin=True)
    customer_owner_department: Mapped[Department] = relationship(
        foreign_keys=[customer_owner_department_id], lazy="joined", innerjoin=True
    )
    customer_owner_person: Mapped[Person | None] = relationship(
        foreign_keys=[customer_owner_person_id], lazy="joined"
    )
    cancelled_by: Mapped[Person | None] = relationship(foreign_keys=[cancelled_by_id])
    handoffs: Mapped[list["Handoff"]] = relationship(
        back_populates="commitment", order_by="Handoff.position", lazy="selectin"
    )
    feedback: Mapped["CustomerFeedback | None"] = relationship(lazy="select", uselist=False)

    @property
    def reference(self) -> str:
        """The short reference an agent reads out on the phone, e.g. C-1042."""
        return self.reference_of(self.id)

    @staticmethod
    def reference_of(commitment_id: int) -> str:
        return f"C-{commitment_id + REFERENCE_OFFSET}"

    @staticmethod
    def id_from_reference(text: str) -> int | None:
        """The id behind a reference such as 'C-1042' or 'c1042', or None."""
        cleaned = text.strip().upper().replace(" ", "")
        if cleaned.startswith("C"):
            cleaned = cleaned[1:].lstrip("-")
        if not (cleaned.isascii() and cleaned.isdigit()) or len(cleaned) > 10:
            return None  # '²' is a digit to Python, not to int(); and ids have 10 digits at most
        number = int(cleaned) - REFERENCE_OFFSET
        return number if 0 < number <= MAX_INT else None

    @property
    def channel_label(self) -> str:
        return CHANNELS.get(self.channel, self.channel)

    def refresh_board_facts(self) -> None:
        """Keep the columns the board reads true to the handoffs (see keep_board_facts)."""
        facts = board_facts(
            cancelled=self.cancelled_at is not None,
            promised_at=self.promised_at,
            handoffs=[HandoffFacts(State(h.state), h.due_at) for h in self.handoffs],
        )
        self.on_board = facts.on_board
        self.overdue_from = facts.overdue_from
        self.answer_due_at = facts.answer_due_at
        self.troubled = facts.troubled

    def status(self, now: datetime, at_risk_within: timedelta) -> Status:
        """The overall status, derived from the handoffs."""
        return derive_status(
            cancelled=self.cancelled_at is not None,
            promised_at=self.promised_at,
            handoffs=[HandoffFacts(State(h.state), h.due_at) for h in self.handoffs],
            now=now,
            at_risk_within=at_risk_within,
        )

    @property
    def is_open(self) -> bool:
        """Whether the commitment still needs someone (it is on the board)."""
        return self.cancelled_at is None and any(h.state in UNSETTLED_STATES for h in self.handoffs)


class Handoff(db.Model):
    """The part of a commitment that one department must deliver."""

    __tablename__ = "handoff"
    __table_args__ = (
        UniqueConstraint("commitment_id", "department_id"),
        Index("ix_handoff_department_state_due", "department_id", "state", "due_at"),
        Index("ix_handoff_state_due", "state", "due_at"),
        # accepted work not yet noted late, by due time: what the sweep looks for each round.
        # Only those rows are in it, so that no planner reads through the late work noted
        # before (PostgreSQL took the columns for independent and scanned every accepted
        # handoff past its time: 40 ms a round with nothing to do at 1M); its columns begin
        # with the condition's, so that SQLite prefers it to (state, due_at) without statistics.
        Index("ix_handoff_late", "state", "late_noted_at", "due_at", "id", **NOT_YET_LATE),
        Index("ix_handoff_owner_state_due", "owner_department_id", "state", "due_at"),
        # the handoffs behind a figure of insights: a department's, by when handed over
        Index("ix_handoff_department_requested", "department_id", "requested_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitment.id"), index=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    # The promising side (the commitment's owner, which never changes), who settles a
    # counter: kept here so that "counters waiting for this department" is one index range.
    owner_department_id: Mapped[int] = mapped_column(ForeignKey("department.id"))
    position: Mapped[int] = mapped_column(Integer)
    ask: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(16), default=State.PENDING, index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    # The latest answer (accept, counter, decline) and the latest change of state.
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # Whom the answer was given for: an away member, when their delegate answered.
    answered_for_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    answer_note: Mapped[str] = mapped_column(Text, default="")
    counter_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    counter_terms: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    changed_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the sweep found it accepted, past its due time and not done (it happens once).
    late_noted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The standing promise named for this step, and what it promises (for its limits).
    standing_promise_id: Mapped[int | None] = mapped_column(ForeignKey("standing_promise.id"))
    amount: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    quantity: Mapped[int | None] = mapped_column(Integer)
    # Nagging: when the next reminder is due (indexed: the sweep asks "due at or before now")
    # and what it will be; reminders are numbered within a series that each change of state
    # starts anew. first_nagged_at and escalated_at are never reset, for honest reporting.
    next_nag_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    next_nag_kind: Mapped[str | None] = mapped_column(String(16))
    nag_series: Mapped[int] = mapped_column(Integer, default=0)
    nag_count: Mapped[int] = mapped_column(Integer, default=0)
    nags_total: Mapped[int] = mapped_column(Integer, default=0)
    first_nagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_nagged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    commitment: Mapped[Commitment] = relationship(back_populates="handoffs")
    department: Mapped[Department] = relationship(
        foreign_keys=[department_id], lazy="joined", innerjoin=True
    )
    answered_by: Mapped[Person | None] = relationship(foreign_keys=[answered_by_id], lazy="joined")
    answered_for: Mapped[Person | None] = relationship(foreign_keys=[answered_for_id])
    changed_by: Mapped[Person] = relationship(
        foreign_keys=[changed_by_id], lazy="joined", innerjoin=True
    )
    requested_by: Mapped[Person] = relationship(foreign_keys=[requested_by_id])
    standing_promise: Mapped["StandingPromise | None"] = relationship(lazy="joined")  # noqa: F821

    @property
    def accepted_by_promise(self) -> bool:
        """Whether the standing promise accepted it, rather than a person."""
        return (
            self.standing_promise_id is not None
            and self.answered_by_id is None
            and (self.answered_at is not None)
        )

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    @property
    def effective_due_at(self) -> datetime:
        """When the department will deliver: its counter date while countered."""
        if self.state == State.COUNTERED and self.counter_due_at:
            return self.counter_due_at
        return self.due_at


class CustomerFeedback(db.Model):
    """How the customer felt about a fulfilled commitment (insights use it)."""

    __tablename__ = "customer_feedback"

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitment.id"), unique=True)
    score: Mapped[int] = mapped_column(Integer)
    comment: Mapped[str] = mapped_column(Text, default="")
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    recorded_by: Mapped[Person] = relationship(lazy="joined", innerjoin=True)


class Comment(db.Model):
    """A message in a commitment's internal discussion."""

    __tablename__ = "comment"
    __table_args__ = (Index("ix_comment_commitment_created", "commitment_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitment.id"))
    author_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    author: Mapped[Person] = relationship(lazy="joined", innerjoin=True)


# What a commitment's status follows from changes with these; nothing else moves it.
_BOARD_INPUTS = {"Handoff": ("state", "due_at"), "Commitment": ("promised_at", "cancelled_at")}


@event.listens_for(Session, "before_flush")
def keep_board_facts(session: Session, flush_context, instances) -> None:
    """Before anything is written, every commitment whose status inputs changed (a handoff
    added, answered, moved, a date changed, a cancellation) gets its board facts anew, in the
    same flush: whichever verb made the change, the board's columns cannot fall behind."""
    touched: set[Commitment] = set()
    with session.no_autoflush:
        for thing in (*session.new, *session.dirty):
            if not isinstance(thing, Commitment | Handoff):
                continue
            names = _BOARD_INPUTS[type(thing).__name__]
            if thing not in session.new and not _changed(thing, names):
                continue
            if isinstance(thing, Commitment):
                touched.add(thing)
            elif thing.commitment is not None:
                touched.add(thing.commitment)
            elif thing.commitment_id is not None:
                touched.add(session.get(Commitment, thing.commitment_id))
        for commitment in touched:
            commitment.refresh_board_facts()


def _changed(thing, names) -> bool:
    state = sa_inspect(thing)
    return any(state.attrs[name].history.has_changes() for name in names)
