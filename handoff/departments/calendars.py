"""Holidays from an iCalendar (.ics) file, as a calendar program or a public-holiday feed
exports them: read with icalendar, repeating events unrolled with recurring-ical-events, and
shown day by day before anything is saved.

Only whole days count (a business day is either a holiday or not): an all-day event covers
each day from its start up to its end; an event with times of day is shown and left out.
Days before today are left out (they no longer move any deadline), and so are days more than
HORIZON ahead.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import icalendar
import recurring_ical_events

from handoff.kernel.errors import InvalidInput

HORIZON = timedelta(days=3 * 366)  # how far ahead a file's holidays are taken
MOST_DAYS = 400  # days one file may add (a country's holidays for three years are some 40)
MOST_EVENTS = 5000  # events read from one file, repeats unrolled
MOST_REPEATING = 50  # repeating events (each unrolled for three years: daily is 1,096 days)


@dataclass(frozen=True)
class Found:
    """One day the file names, what it is called there, and what importing it would do."""

    day: date
    name: str
    outcome: str  # NEW, KNOWN, NOT_WORKED, PARTIAL
    note: str = ""


NEW, KNOWN, NOT_WORKED, PARTIAL = "new", "known", "not worked", "partial"


def read_holidays(
    data: bytes, *, today: date, known: frozenset[date], work_days: frozenset[int]
) -> list[Found]:
    """The days an .ics file names from `today` to HORIZON ahead, soonest first: NEW ones to
    add, and those that would change nothing (KNOWN already, NOT_WORKED anyway, PARTIAL: an
    event with times of day). InvalidInput when the file is no calendar, or says too much."""
    try:
        calendar = icalendar.Calendar.from_ical(data)
    except (ValueError, IndexError, KeyError, TypeError) as error:
        raise InvalidInput(
            "This file is not an iCalendar (.ics) file, or it is damaged: no calendar could "
            "be read from it. Export the calendar again as .ics and choose that file.",
            field="calendar",
        ) from error
    if not isinstance(calendar, icalendar.Calendar) or calendar.name != "VCALENDAR":
        raise InvalidInput("This file holds no calendar (no BEGIN:VCALENDAR).", field="calendar")
    last = today + HORIZON
    try:
        _require_day_sized(calendar)
        events = recurring_ical_events.of(calendar).between(today, last + timedelta(days=1))
        found: dict[date, Found] = {}
        for count, event in enumerate(events):
            if count >= MOST_EVENTS:
                raise InvalidInput(
                    f"The file holds more than {MOST_EVENTS:,} events in the next three years: "
                    "is it a holiday calendar?",
                    field="calendar",
                )
            for item in _days_of(event, today, last, known, work_days):
                found.setdefault(item.day, item)
    except InvalidInput:
        raise
    except Exception as error:
        raise InvalidInput(
            "Some of the file's events have dates that cannot be read (a damaged or unusual "
            "calendar): nothing was taken from it.",
            field="calendar",
        ) from error
    days = sorted(found.values(), key=lambda f: f.day)
    if sum(1 for f in days if f.outcome == NEW) > MOST_DAYS:
        raise InvalidInput(
            f"The file names more than {MOST_DAYS:,} new days off: is it a holiday calendar?",
            field="calendar",
        )
    return days


def _require_day_sized(calendar) -> None:
    """Refuse, before any repeat is unrolled, what cannot be a list of days off: too many
    events, or events repeating within a day (every hour, minute or second: millions of
    times in three years)."""
    events = calendar.walk("VEVENT")
    if len(events) > MOST_EVENTS:
        raise InvalidInput(
            f"The file holds more than {MOST_EVENTS:,} events: is it a holiday calendar?",
            field="calendar",
        )
    repeating = 0
    for event in events:
        rules = event.get("RRULE")
        name = str(event.get("SUMMARY", "") or "an event")[:60]
        for rule in rules if isinstance(rules, list) else [rules] if rules else []:
            repeating += 1
            frequency = {str(f).upper() for f in rule.get("FREQ", [])}
            within_a_day = {"BYHOUR", "BYMINUTE", "BYSECOND"} & {k.upper() for k in rule}
            if frequency & {"HOURLY", "MINUTELY", "SECONDLY"} or within_a_day:
                raise InvalidInput(
                    f"“{name}” repeats within a day: holidays are whole days.", field="calendar"
                )
            if not frequency <= {"DAILY", "WEEKLY", "MONTHLY", "YEARLY"} or len(frequency) != 1:
                raise InvalidInput(f"“{name}” repeats in a way that cannot be read.", "calendar")
            intervals = [int(i) for i in rule.get("INTERVAL", [1])]
            if any(i < 1 for i in intervals):
                raise InvalidInput(f"“{name}” repeats every 0 days: it cannot be read.", "calendar")
    if repeating > MOST_REPEATING:
        raise InvalidInput(
            f"The file holds more than {MOST_REPEATING} repeating events: is it a holiday "
            "calendar?",
            field="calendar",
        )


def _days_of(event, today: date, last: date, known, work_days) -> list[Found]:
    name = str(event.get("SUMMARY", "") or "").strip()[:120] or "(no name)"
    start = event.get("DTSTART")
    if start is None:
        return []
    start = start.dt
    end = event.get("DTEND")
    end = end.dt if end is not None else None
    if isinstance(start, datetime):  # times of day: not a whole day off
        day = start.date()
        if not today <= day <= last:
            return []
        return [Found(day, name, PARTIAL, f"{start:%H:%M}: not a whole day, left out")]
    end = end if isinstance(end, date) and not isinstance(end, datetime) else None
    end = end if end is not None and end > start else start + timedelta(days=1)
    days = []
    day = max(start, today)
    while day < end and day <= last:
        if day in known:
            days.append(Found(day, name, KNOWN, "a holiday already"))
        elif day.weekday() not in work_days:
            days.append(Found(day, name, NOT_WORKED, "not a working day anyway"))
        else:
            days.append(Found(day, name, NEW))
        day += timedelta(days=1)
    return days
