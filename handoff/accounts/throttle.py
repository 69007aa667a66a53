"""Sign-in throttling: failed attempts counted per account and per client address.

The counts live in the database, which every web process already shares, so the limit holds
however many processes serve sign-in. An account (the email typed, whether or not anyone has
it) or an address with too many failures in the window is refused before the password is
read, with the moment it may try again. A success clears its account's failures, never its
address's: signing in to one's own account must not reset the count of guesses at others.
"""

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, request
from sqlalchemy import delete, select

from handoff.accounts.models import Person, SignInFailure
from handoff.extensions import db


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused now, and how long until the next try may be made."""

    retry_after: timedelta

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds()))

    @property
    def message(self) -> str:
        minutes = math.ceil(self.seconds / 60)
        wait = (
            f"{minutes} minute{'s' if minutes != 1 else ''}"
            if self.seconds >= 60
            else (f"{self.seconds} seconds")
        )
        return (
            f"Too many failed sign-ins. Try again in {wait}. "
            "If you forgot your password, ask an administrator to set a new one."
        )


def client_address() -> str:
    """Who is asking: the client's address (behind a proxy, as HANDOFF_PROXY_COUNT trusts);
    an IPv6 client is counted by its /64, which one household or machine holds whole."""
    text = request.remote_addr or "unknown"
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return text[:64]
    if address.version == 6:
        if address.ipv4_mapped:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _window() -> timedelta:
    return timedelta(minutes=current_app.config["SIGN_IN_WINDOW_MINUTES"])


def _refusal(column, value: str, limit: int, now: datetime) -> Refusal | None:
    """A refusal when `value` has `limit` failures in the window: until the oldest of the
    latest `limit` leaves it."""
    if limit <= 0:
        return None
    window = _window()
    oldest_that_counts = db.session.scalar(
        select(SignInFailure.at)
        .where(column == value, SignInFailure.at > now - window)
        .order_by(SignInFailure.at.desc())
        .offset(limit - 1)
        .limit(1)
    )
    if oldest_that_counts is None:
        return None
    return Refusal(oldest_that_counts + window - now)


def refusal(email: str, now: datetime) -> Refusal | None:
    """Whether a sign-in for `email` from this client must wait, and how long."""
    config = current_app.config
    by_account = _refusal(
        SignInFailure.account,
        Person.normalise_email(email),
        config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"],
        now,
    )
    by_address = _refusal(
        SignInFailure.address, client_address(), config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"], now
    )
    waits = [r for r in (by_account, by_address) if r]
    return max(waits, key=lambda r: r.retry_after) if waits else None


def record_failure(email: str, now: datetime) -> None:
    """Count one failed sign-in for the account typed and for this client."""
    db.session.add(
        SignInFailure(at=now, account=Person.normalise_email(email)[:254], address=client_address())
    )


def clear_account(email: str) -> None:
    """A successful sign-in forgives its account's failures (not its address's)."""
    db.session.execute(
        delete(SignInFailure).where(SignInFailure.account == Person.normalise_email(email))
    )


def forget_old_failures(now: datetime) -> int:
    """Failures older than the window count for nothing: delete them (the sweep calls this)."""
    result = db.session.execute(delete(SignInFailure).where(SignInFailure.at <= now - _window()))
    return result.rowcount or 0
