"""Business time: adding and counting working minutes in a department's own time zone.

Hours are wall-clock times in the department's zone (`zoneinfo`), so a window of 08:00–17:00
stays 08:00–17:00 across both DST changes; nothing here uses a fixed UTC offset. Weekends
(days not in `work_days`) and holidays have no business time at all.
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

    def __post_init__(self):
        if self.end <= self.start:
            raise ValueError("the working day must end after it starts")

    def is_work_day(self, day: date) -> bool:
        """Whether `day` (a local date) has business hours."""
        return day.weekday() in self.work_days and day not in self.holidays

    def window(self, day: date) -> tuple[datetime, datetime]:
        """The day's opening and closing moments, in UTC."""
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
        local_day = moment.astimezone(self.zone).date()
        if not self.is_work_day(local_day):
            return False
        opens, closes = self.window(local_day)
        return opens <= moment < closes

    def next_open(self, moment: datetime) -> datetime:
        """`moment` if business hours are open then, else when they next open."""
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
        remaining = timedelta(minutes=minutes)
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
        remaining = timedelta(minutes=minutes)
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

    def minutes_between(self, earlier: datetime, later: datetime) -> float:
        """How many business minutes lie between two moments (0 if `later` is not later)."""
        total = timedelta(0)
        if later <= earlier:
            return 0.0
        for opens, closes in self._windows_from(earlier):
            if opens >= later:
                break
            total += min(closes, later) - max(opens, earlier)
        return total.total_seconds() / 60
