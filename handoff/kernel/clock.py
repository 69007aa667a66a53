"""The one clock the program reads: aware UTC datetimes."""

from datetime import UTC, datetime


def utcnow() -> datetime:
    """The current moment in UTC."""
    return datetime.now(UTC)
