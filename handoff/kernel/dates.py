"""How moments are written, for pages and mail alike: 'Tue 12 May 10:00' in the reader's
own time zone (the year only when it is not this year), 'in 3 h', '5 h ago'."""

from datetime import datetime, timedelta
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WHEN = "%a %d %b %H:%M"
WHEN_IN_ANOTHER_YEAR = "%a %d %b %Y %H:%M"


def format_when(value: datetime | None, zone: ZoneInfo, now: datetime) -> str:
    """'Tue 12 May 10:00' in `zone`; with the year when it is not `now`'s year there."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    pattern = WHEN if local.year == now.astimezone(zone).year else WHEN_IN_ANOTHER_YEAR
    return local.strftime(pattern)


def format_relative(value: datetime | None, now: datetime) -> str:
    """'in 3 h', '5 h ago', 'in 2 d' — how far a moment is from now."""
    if value is None:
        return ""
    delta = value - now
    future = delta >= timedelta(0)
    seconds = abs(delta.total_seconds())
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        amount = f"{int(seconds // 60)} min"
    elif seconds < 48 * 3600:
        amount = f"{int(seconds // 3600)} h"
    else:
        amount = f"{int(seconds // 86400)} d"
    return f"in {amount}" if future else f"{amount} ago"


def is_valid_zone(name: str | None) -> bool:
    """Whether `name` is an IANA time zone this machine knows."""
    if not name:
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


@cache
def known_zones() -> tuple[str, ...]:
    """The IANA time zones a person may choose, by name (UTC, and Area/City ones)."""
    names = {
        name
        for name in available_timezones()
        if "/" in name and not name.startswith(("posix/", "right/", "Etc/", "SystemV/"))
    }
    return ("UTC", *sorted(names))
