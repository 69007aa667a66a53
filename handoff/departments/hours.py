"""When departments work: each department's own hours, or the organisation's.

Business time (how long a window lasts, when a reminder may go, how long a standing
promise's lead time is) is counted in these hours; nagging, standing promises and the
customer conversation all read them from here.
"""

from datetime import date, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from sqlalchemy import Boolean, ForeignKey, String, Text, false, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from handoff.departments.business_time import BusinessHours
from handoff.kernel.db import db, kept_for_transaction

WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# The hours every department has until the organisation or the department sets its own.
DEFAULT_HOURS = {
    "time_zone": "Europe/Berlin",
    "work_days": "0,1,2,3,4",
    "day_start": "08:00",
    "day_end": "17:00",
    "holidays": "",
    "holiday_country": "",
    "always_open": False,
}


class WorkingHours(db.Model):
    """A department's working hours; the row without a department is the organisation's,
    which every department without its own follows."""

    __tablename__ = "working_hours"

    id: Mapped[int] = mapped_column(primary_key=True)
    department_id: Mapped[int | None] = mapped_column(
        ForeignKey("department.id", ondelete="CASCADE"), unique=True
    )
    time_zone: Mapped[str] = mapped_column(String(64), default=DEFAULT_HOURS["time_zone"])
    work_days: Mapped[str] = mapped_column(String(20), default=DEFAULT_HOURS["work_days"])
    day_start: Mapped[str] = mapped_column(String(5), default=DEFAULT_HOURS["day_start"])
    day_end: Mapped[str] = mapped_column(String(5), default=DEFAULT_HOURS["day_end"])
    holidays: Mapped[str] = mapped_column(Text, default="")  # one ISO date a line
    holiday_country: Mapped[str] = mapped_column(String(8), default="")
    # Round the clock, every day: business time is all time (the hours above are not used).
    always_open: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

    @classmethod
    def organisation(cls) -> "WorkingHours":
        """The organisation's hours (unsaved defaults if none were set up); read once a
        transaction."""
        return kept_for_transaction(("hours", None), cls._organisation, unless=(cls,))

    @classmethod
    def _organisation(cls) -> "WorkingHours":
        hours = db.session.scalar(
            select(cls).where(cls.department_id.is_(None)).order_by(cls.id).limit(1)
        )
        return hours or cls(department_id=None, **DEFAULT_HOURS)

    @classmethod
    def own(cls, department_id: int) -> "WorkingHours | None":
        """The department's own hours, if it has any."""
        return db.session.scalar(select(cls).where(cls.department_id == department_id))

    @classmethod
    def for_department(cls, department_id: int | None) -> "WorkingHours":
        """The department's own hours, or the organisation's (None: the organisation's), in
        one query, once a transaction."""
        if department_id is None:
            return cls.organisation()
        return kept_for_transaction(
            ("hours", department_id), lambda: cls._for_department(department_id), unless=(cls,)
        )

    @classmethod
    def _for_department(cls, department_id: int) -> "WorkingHours":
        found: dict = {}
        for hours in db.session.scalars(
            select(cls)
            .where(or_(cls.department_id == department_id, cls.department_id.is_(None)))
            .order_by(cls.id)
        ):
            found.setdefault(hours.department_id, hours)  # (the first, as organisation())
        # the organisation's was read with it (no row: the defaults): kept for who asks it
        organisation = found.get(None) or cls(department_id=None, **DEFAULT_HOURS)
        kept_for_transaction(("hours", None), lambda: organisation, unless=(cls,))
        return found.get(department_id) or organisation

    @property
    def work_day_numbers(self) -> frozenset[int]:
        return frozenset(int(d) for d in self.work_days.split(",") if d.strip().isdigit())

    @property
    def holiday_dates(self) -> frozenset[date]:
        return frozenset(
            date.fromisoformat(line.strip()) for line in self.holidays.splitlines() if line.strip()
        )

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

    def describe(self) -> str:
        """'Mon–Fri 08:00–17:00 Europe/Berlin', or 'Round the clock, every day (Europe/Berlin)'."""
        if self.always_open:
            return f"Round the clock, every day ({self.time_zone})"
        days = sorted(self.work_day_numbers)
        if days and days == list(range(days[0], days[-1] + 1)) and len(days) > 2:
            names = f"{WEEKDAYS[days[0]]}–{WEEKDAYS[days[-1]]}"
        else:
            names = ", ".join(WEEKDAYS[d] for d in days) or "no days"
        return f"{names} {self.day_start}–{self.day_end} {self.time_zone}"


def hours_of(department_id: int | None, year: int | None = None) -> BusinessHours:
    """When the department works (None: the organisation), as business-time arithmetic
    takes it; with public holidays around `year` when given."""
    return WorkingHours.for_department(department_id).business_hours(year)


def business_day_minutes(department_id: int | None) -> int:
    """How long the department's working day is, in minutes."""
    return hours_of(department_id).day_minutes


@lru_cache(maxsize=64)
def _country_holidays(country: str, year: int) -> frozenset[date]:
    """Public holidays of a country (the `holidays` package) for the years around `year`."""
    if not country:
        return frozenset()
    import holidays

    return frozenset(holidays.country_holidays(country, years=range(year - 1, year + 3)).keys())
