"""Nag policies and the record of every reminder sent."""

from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from handoff.kernel.clock import utcnow
from handoff.kernel.db import UTCDateTime, db
from handoff.nagging.business_time import BusinessHours
from handoff.nagging.rules import Policy

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
DEFAULTS = {
    "time_zone": "Europe/Berlin",
    "work_days": "0,1,2,3,4",
    "day_start": "08:00",
    "day_end": "17:00",
    "holidays": "",
    "holiday_country": "",
    "ack_window_minutes": 120,
    "cadence_minutes": 240,
    "escalate_after": 2,
    "org_escalate_after": 4,
    "due_soon_minutes": 240,
    "escalation_email": "",
    "escalation_name": "",
    "always_open": False,
}


class NagPolicy(db.Model):
    """When a department works and how it is chased; the row without a department is the
    organisation's default, which also names the organisation-wide escalation contact."""

    __tablename__ = "nag_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), unique=True
    )
    time_zone: Mapped[str] = mapped_column(String(64), default="Europe/Berlin")
    work_days: Mapped[str] = mapped_column(String(20), default="0,1,2,3,4")
    day_start: Mapped[str] = mapped_column(String(5), default="08:00")
    day_end: Mapped[str] = mapped_column(String(5), default="17:00")
    holidays: Mapped[str] = mapped_column(Text, default="")  # one ISO date a line
    holiday_country: Mapped[str] = mapped_column(String(8), default="")
    ack_window_minutes: Mapped[int] = mapped_column(Integer, default=120)
    cadence_minutes: Mapped[int] = mapped_column(Integer, default=240)
    escalate_after: Mapped[int] = mapped_column(Integer, default=2)
    # None means never; no column default, so that an explicit None is stored as it is.
    org_escalate_after: Mapped[int | None] = mapped_column(Integer)
    due_soon_minutes: Mapped[int] = mapped_column(Integer, default=240)
    escalation_email: Mapped[str] = mapped_column(String(254), default="")
    escalation_name: Mapped[str] = mapped_column(String(120), default="")
    # Round the clock, every day: business time is all time (the hours above are not used).
    always_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @classmethod
    def organisation(cls) -> "NagPolicy":
        """The organisation's default policy (unsaved defaults if none was set up)."""
        policy = db.session.scalar(db.select(cls).where(cls.department_id.is_(None)))
        return policy or cls(department_id=None, **DEFAULTS)

    @classmethod
    def for_department(cls, department_id: int) -> "NagPolicy":
        """The department's own policy, or the organisation's default."""
        own = db.session.scalar(db.select(cls).where(cls.department_id == department_id))
        return own or cls.organisation()

    @property
    def work_day_numbers(self) -> frozenset[int]:
        return frozenset(int(d) for d in self.work_days.split(",") if d.strip().isdigit())

    @property
    def holiday_dates(self) -> frozenset[date]:
        dates = set()
        for line in self.holidays.splitlines():
            line = line.strip()
            if line:
                dates.add(date.fromisoformat(line))
        return frozenset(dates)

    def business_hours(self, year: int | None = None) -> BusinessHours:
        """The business hours, with the country's public holidays around `year` (if given)."""
        if self.always_open:
            return BusinessHours.round_the_clock(ZoneInfo(self.time_zone))
        holidays = self.holiday_dates
        if year is not None:
            holidays |= _country_holidays(self.holiday_country, year)
        return BusinessHours(
            zone=ZoneInfo(self.time_zone),
            start=time.fromisoformat(self.day_start),
            end=time.fromisoformat(self.day_end),
            work_days=self.work_day_numbers,
            holidays=holidays,
        )

    def rules(self, now: datetime) -> Policy:
        """The policy as the pure nag rules take it."""
        return Policy(
            hours=self.business_hours(now.year),
            ack_window=self.ack_window_minutes,
            cadence=self.cadence_minutes,
            escalate_after=self.escalate_after,
            org_escalate_after=self.org_escalate_after,
            due_soon=self.due_soon_minutes,
        )

    def describe_hours(self) -> str:
        """'Mon–Fri 08:00–17:00 Europe/Berlin', or 'Round the clock, every day (Europe/Berlin)'."""
        if self.always_open:
            return f"Round the clock, every day ({self.time_zone})"
        days = sorted(self.work_day_numbers)
        if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            names = f"{WEEKDAYS[days[0]]}–{WEEKDAYS[days[-1]]}"
        else:
            names = ", ".join(WEEKDAYS[d] for d in days) or "no days"
        return f"{names} {self.day_start}–{self.day_end} {self.time_zone}"


@lru_cache(maxsize=64)
def _country_holidays(country: str, year: int) -> frozenset[date]:
    """Public holidays of a country (the `holidays` package) for the years around `year`."""
    if not country:
        return frozenset()
    import holidays

    return frozenset(holidays.country_holidays(country, years=range(year - 1, year + 3)).keys())


class Nag(db.Model):
    """One reminder (or piece of news) to one recipient. The unique key makes a second insert
    do nothing.

    A nag waits to be mailed while `mail_after` is set: from then on, the next digest to its
    recipient that finds it still true and the recipient in hours (the hours of
    `via_department`, or the organisation's for its escalation contact) carries it. It ends
    mailed (`message_id`) or dropped (`dropped_at`, with the reason), never both.
    """

    __tablename__ = "nag"
    __table_args__ = (
        UniqueConstraint("handoff_id", "series", "number", "recipient_email"),
        UniqueConstraint("task_id", "kind", "number", "recipient_email"),
        Index("ix_nag_mail_after", "mail_after"),
        Index("ix_nag_recipient_waiting", "recipient_email", "mail_after"),
        Index("ix_nag_recipient_handoff", "recipient_email", "handoff_id"),
        Index("ix_nag_recipient_task", "recipient_email", "task_id"),
        CheckConstraint("(handoff_id IS NULL) <> (task_id IS NULL)", name="handoff_or_task"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # A reminder is about a handoff, or about a task to tell the customer.
    handoff_id: Mapped[int | None] = mapped_column(ForeignKey("handoff.id"), index=True)
    task_id: Mapped[int | None] = mapped_column(ForeignKey("customer_task.id"), index=True)
    series: Mapped[int] = mapped_column(Integer)
    number: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    level: Mapped[int] = mapped_column(Integer)
    recipient_email: Mapped[str] = mapped_column(String(254))
    recipient_name: Mapped[str] = mapped_column(String(120), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    # Whose business hours the recipient is reached in; None: the organisation's.
    via_department_id: Mapped[int | None] = mapped_column(ForeignKey("department.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    mail_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"), index=True)
    dropped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    drop_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")


class Mailbox(db.Model):
    """One row per address: the lock that makes one sweep at a time write its digest, and
    what the throttle and the daily cap count."""

    __tablename__ = "mailbox"

    address: Mapped[str] = mapped_column(String(254), primary_key=True)
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    day: Mapped[str] = mapped_column(String(10), default="", server_default="")
    digests_that_day: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class NaggerProcess(db.Model):
    """A process that runs rounds (a nagger, or a demo server sweeping in the background),
    and how its last round went: what the health check and the metrics read."""

    __tablename__ = "nagger_process"

    name: Mapped[str] = mapped_column(String(120), primary_key=True)  # host:pid
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_round_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    last_round_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    rounds: Mapped[int] = mapped_column(Integer, default=0)
    last_reminders: Mapped[int] = mapped_column(Integer, default=0)
    last_digests: Mapped[int] = mapped_column(Integer, default=0)
    last_sent: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
