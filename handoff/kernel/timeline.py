"""A commitment's timeline: the append-only record of everything that happened to it.

One writer, `record()` (`record_all()` for many entries at once): an entry is a kind and
the structured facts of what happened (who, which department, the note, the reminder's
number …), stored as they were at that moment. The words are made when the entry is read,
by the phrase each concept registers for its kinds (`@phrase("accept")`), so pages,
insights and exports read the same facts. Entries written before the facts were kept carry
their words instead.
"""

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, event, insert
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff.kernel.db import UTCDateTime, db

PHRASES: dict[str, Callable[[dict], str]] = {}


def phrase(kind: str):
    """Register the words an entry of `kind` is read in: a function of its facts."""

    def register(words: Callable[[dict], str]) -> Callable[[dict], str]:
        if kind in PHRASES and PHRASES[kind] is not words:
            raise ValueError(f"the timeline kind {kind!r} has words already")
        PHRASES[kind] = words
        return words

    return register


class TimelineEvent(db.Model):
    """One entry of a commitment's append-only record."""

    __tablename__ = "timeline_event"
    __table_args__ = (Index("ix_timeline_commitment_created", "commitment_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commitment_id: Mapped[int] = mapped_column(ForeignKey("commitment.id"))
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    kind: Mapped[str] = mapped_column(String(32))
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str | None] = mapped_column(String(16))
    # The facts of what happened; the words are made from them when read.
    data: Mapped[dict | None] = mapped_column(JSON)
    # The words of entries written before their facts were kept.
    summary: Mapped[str] = mapped_column(Text, default="", server_default="")
    # A moment the event is about (a counter's date, a moved due date), shown in the reader's zone.
    about_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)

    actor = relationship("Person", lazy="joined")
    handoff = relationship("Handoff")

    @property
    def words(self) -> str:
        """What happened, in words."""
        return words(self.kind, self.data, self.summary)


class AppendOnlyViolation(Exception):
    """Raised on an attempt to change the timeline."""


@event.listens_for(TimelineEvent, "before_update")
@event.listens_for(TimelineEvent, "before_delete")
def _timeline_is_append_only(mapper, connection, target) -> None:
    raise AppendOnlyViolation("timeline events are never edited or deleted")


def words(kind: str, data: dict | None, summary: str = "") -> str:
    """The words of an entry of `kind` with these facts (its stored words if it has no facts)."""
    if data is None:
        return summary
    return PHRASES[kind](data)


def _id(thing) -> int | None:
    return getattr(thing, "id", thing)


def entry(
    commitment,
    kind: str,
    now: datetime,
    *,
    actor=None,
    handoff=None,
    from_state: str | None = None,
    to_state: str | None = None,
    about_at: datetime | None = None,
    **facts,
) -> dict:
    """The columns of an entry (see `record`), checked, for `record_all`."""
    if kind not in PHRASES:
        raise ValueError(f"no words for the timeline kind {kind!r}: register a phrase")
    return {
        "commitment_id": _id(commitment),
        "handoff_id": _id(handoff),
        "actor_id": _id(actor),
        "kind": kind,
        "from_state": from_state,
        "to_state": to_state,
        "data": facts,
        "about_at": about_at,
        "created_at": now,
    }


def record(commitment, kind: str, now: datetime, **what) -> TimelineEvent:
    """Append an entry to the commitment's timeline, in the caller's transaction.

    `commitment`, `actor` and `handoff` are rows or ids; the other keywords are the facts
    the words of `kind` are made from (plain values: text, numbers, lists).
    """
    added = TimelineEvent(**entry(commitment, kind, now, **what))
    db.session.add(added)
    return added


def record_all(entries: list[dict]) -> None:
    """Append many entries (made by `entry`) in one statement, in the caller's transaction:
    what a sweep writes for a batch of reminders."""
    if entries:
        db.session.execute(insert(TimelineEvent), entries)


def with_note(text: str, note: str | None) -> str:
    """'Installation declined: no technician free' — a text and its note, if there is one."""
    note = (note or "").strip()
    return f"{text}: {note}" if note else text
