"""Business time: adding and counting working minutes in a department's own time zone.

Hours are wall-clock times in the department's zone (`zoneinfo`), so a window of 08:00–17:00
stays 08:00–17:00 across both DST changes; nothing here uses a fixed UTC offset. Weekends
(days not in `work_days`) and holidays have no business time at all.

Hours that are always open (a department working round the clock, every day) make business
time plain elapsed time: no windows, no weekends, no holidays. Moments are compared and
counted in UTC, so a night of a DST change has its real 23 or 25 hours.
"""

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# How far ahead to look for the next open window before deciding there is none.
SEARCH_DAYS = 3 * 366


class NoBusinessTime(ValueError):
    """The hours never open (no work days, or every day a holiday within the search range)."""


@dataclass(frozen=True)
class BusinessHours:
    """When a department works: days of the week, a daily window, holidays, in its zone."""

    zone: ZoneInfo
    start: time = time(8, 0)
    end: time = time(17, 0)
    work_days: frozenset[int] = frozenset(range(5))  # Monday = 0
    holidays: frozenset[date] = field(default_factory=frozenset)
    # Round the clock, every day: start, end, work days and holidays are then not used.
    always_open: bool = False

    def __post_init__(self):
        if not self.always_open and self.end <= self.start:
            raise ValueError("the working day must end after it starts")

    @classmethod
    def round_the_clock(cls, zone: ZoneInfo) -> "BusinessHours":
        """Hours that are always open: every minute of every day is business time."""
        return cls(zone, time.min, time.max, frozenset(range(7)), always_open=True)

    @property
    def day_minutes(self) -> int:
        """How long one working day is, in minutes (24 h round the clock)."""
        if self.always_open:
            return 24 * 60
        return (self.end.hour * 60 + self.end.minute) - (self.start.hour * 60 + self.start.minute)

    def is_work_day(self, day: date) -> bool:
        """Whether `day` (a local date) has business hours."""
        if self.always_open:
            return True
        return day.weekday() in self.work_days and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The day's opening and closing moments, in UTC (the whole local day round the clock)."""
        if self.always_open:
            opens = datetime.combine(day, time.min, tzinfo=self.zone)
            closes = datetime.combine(day + timedelta(days=1), time.min, tzinfo=self.zone)
            return opens.astimezone(UTC), closes.astimezone(UTC)
        opens = datetime.combine(day, self.start, tzinfo=self.zone).astimezone(UTC)
        closes = datetime.combine(day, self.end, tzinfo=self.zone).astimezone(UTC)
        return opens, closes

    def _windows_from(self, moment: datetime) -> Iterator[tuple[datetime, datetime]]:
        """The open windows that end after `moment`, in order."""
        day = moment.astimezone(self.zone).date() - timedelta(days=1)
        for _ in range(SEARCH_DAYS):
            if self.is_work_day(day):
                opens, closes = self.window(day)
                if closes > moment:
                    yield opens, closes
            day += timedelta(days=1)
        raise NoBusinessTime("no business hours within the next three years")

    def is_open(self, moment: datetime) -> bool:
        """Whether `moment` falls inside business hours (opening included, closing not)."""
        if self.always_open:
            return True
        local_day = moment.astimezone(self.zone).date()
        if not self.is_work_day(local_day):
            return False
        opens, closes = self.window(local_day)
        return opens <= moment < closes

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if business hours are open then, else when they next open."""
        if self.always_open:
            return moment
        opens, _ = next(self._windows_from(moment))
        return max(opens, moment)

    def add(self, moment: datetime, minutes: float) -> datetime:
        """The moment `minutes` of business time after `moment`.

        Time outside business hours does not count. With 0 minutes the answer is
        `next_open(moment)`. The answer is always a moment when the hours are open: time
        that runs out exactly at closing ripens when they next open.
        """
        if minutes < 0:
            raise ValueError("use subtract() to go back in business time")
        moment = _utc(moment)
        remaining = timedelta(minutes=minutes)
        if self.always_open:
            return moment + remaining
        for opens, closes in self._windows_from(moment):
            cursor = max(opens, moment)
            if cursor + remaining < closes:
                return cursor + remaining
            remaining -= closes - cursor
        raise AssertionError("unreachable")  # _windows_from raises first

    def subtract(self, moment: datetime, minutes: float) -> datetime:
        """The moment `minutes` of business time before `moment` (a moment inside the hours)."""
        if minutes < 0:
            raise ValueError("use add() to go forward in business time")
        moment = _utc(moment)
        remaining = timedelta(minutes=minutes)
        if self.always_open:
            return moment - remaining
        day = moment.astimezone(self.zone).date() + timedelta(days=1)
        for _ in range(SEARCH_DAYS):
            if self.is_work_day(day):
                opens, closes = self.window(day)
                if opens < moment:
                    cursor = min(closes, moment)
                    if cursor - remaining >= opens:
                        return cursor - remaining
                    remaining -= cursor - opens
            day -= timedelta(days=1)
        raise NoBusinessTime("no business hours within the past three years")

    def minutes_between(
        self, earlier: datetime, later: datetime, enough: float | None = None
    ) -> float:
        """How many business minutes lie between two moments (0 if `later` is not later),
        however far apart; with `enough`, counting stops once that many are found."""
        earlier, later = _utc(earlier), _utc(later)
        if later <= earlier:
            return 0.0
        if self.always_open:
            return (later - earlier).total_seconds() / 60
        total = timedelta(0)
        enough_time = timedelta(minutes=enough) if enough is not None else None
        day = earlier.astimezone(self.zone).date() - timedelta(days=1)
        last = later.astimezone(self.zone).date() + timedelta(days=1)
        while day <= last and (enough_time is None or total < enough_time):
            if self.is_work_day(day):
                opens, closes = self.window(day)
                overlap = min(closes, later) - max(opens, earlier)
                if overlap > timedelta(0):
                    total += overlap
            day += timedelta(days=1)
        return total.total_seconds() / 60


def _utc(moment: datetime) -> datetime:
    # Aware datetimes in one zone add and subtract by wall clock, which is wrong across a DST
    # change; in UTC every minute is a real one.
    if moment.tzinfo is None:
        raise ValueError("business time needs aware datetimes")
    return moment.astimezone(UTC)
