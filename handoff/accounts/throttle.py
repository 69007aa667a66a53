"""Sign-in throttling: failed attempts counted per account and per client address.

The counts live in the database, which every web process already shares, so the limits hold
however many processes serve sign-in. Three limits, each over the same window:

- one account typed from one client address (5): guessing one person's password from one
  place stops quickly, and nobody can lock a person out from everywhere by failing on purpose;
- one account from all addresses together (50): guessing from many places stops too, except
  in a browser where that account signed in before (a signed cookie says so), so that nobody
  can lock a person out of their own desk by failing on purpose from elsewhere;
- one client address over all accounts (20): trying many accounts from one place stops.

An attempt is counted and written down in one transaction that holds its account and its
address (committed before its password is read, so that every process sees it): parallel
guesses take turns, and exactly as many as the limits allow go through, on PostgreSQL as on
SQLite. A failure stays counted; a success
takes away what its account failed from this address, never what the address failed at
other accounts, nor what others failed at this account elsewhere.
"""

import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy import delete, select

from handoff.accounts.models import Person, SignInFailure
from handoff.accounts.services import sign_in_window as _window
from handoff.kernel.db import db, hold_keys, transaction


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused now, and how long until the next try may be made."""

    retry_after: timedelta

    @property
    def seconds(self) -> int:
        return max(1, math.ceil(self.retry_after.total_seconds()))

    @property
    def message(self) -> str:
        if self.seconds >= 60:
            minutes = math.ceil(self.seconds / 60)
            wait = f"{minutes} minute{'s' if minutes != 1 else ''}"
        else:
            wait = f"{self.seconds} seconds"
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


KNOWN_COOKIE = "handoff_known"
KNOWN_FOR = timedelta(days=365)
KNOWN_ACCOUNTS = 5  # the accounts one browser remembers signing in to


def _known_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt="handoff known browser")


def _known_accounts() -> list[str]:
    """The accounts that signed in from this browser before (its signed cookie says so)."""
    text = request.cookies.get(KNOWN_COOKIE, "")
    if not text or len(text) > 2000:
        return []
    try:
        accounts = _known_serializer().loads(text, max_age=KNOWN_FOR.total_seconds())
    except BadSignature:
        return []
    return [a for a in accounts if isinstance(a, str)] if isinstance(accounts, list) else []


def remember_browser(response, email: str):
    """After a right password: this browser is one the account signs in from."""
    account = Person.normalise_email(email)[:254]
    accounts = [account, *(a for a in _known_accounts() if a != account)][:KNOWN_ACCOUNTS]
    response.set_cookie(
        KNOWN_COOKIE,
        _known_serializer().dumps(accounts),
        max_age=int(KNOWN_FOR.total_seconds()),
        httponly=True,
        samesite="Lax",
        secure=current_app.config["SESSION_COOKIE_SECURE"],
    )
    return response


def _limits(account: str, address: str) -> list[tuple[list, int]]:
    """Each limit: the rows it counts, and how many failures it allows in the window."""
    config = current_app.config
    limits = [
        (
            [SignInFailure.account == account, SignInFailure.address == address],
            config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT_ADDRESS"],
        ),
        ([SignInFailure.address == address], config["SIGN_IN_MAX_FAILURES_PER_ADDRESS"]),
    ]
    if account not in _known_accounts():  # from its own desk, an account is not locked out
        limits.append(
            ([SignInFailure.account == account], config["SIGN_IN_MAX_FAILURES_PER_ACCOUNT"])
        )
    return limits


def _wait(account: str, address: str, now: datetime, more: int = 0) -> Refusal | None:
    """The longest wait any limit sets when `more` than its allowance is counted: until the
    oldest row that makes it full leaves the window."""
    window = _window()
    waits = []
    for conditions, allowed in _limits(account, address):
        if allowed <= 0:
            continue
        oldest_that_counts = db.session.scalar(
            select(SignInFailure.at)
            .where(*conditions, SignInFailure.at > now - window)
            .order_by(SignInFailure.at.desc())
            .offset(allowed - 1 + more)
            .limit(1)
        )
        if oldest_that_counts is not None:
            waits.append(oldest_that_counts + window - now)
    return Refusal(max(waits)) if waits else None


def _keys(email: str) -> tuple[str, str]:
    return Person.normalise_email(email)[:254], client_address()


def admit(email: str, now: datetime) -> Refusal | None:
    """Let one sign-in attempt for `email` from this client go ahead, or say how long it must
    wait. An admitted attempt is counted as a failure (committed) until `succeeded`."""
    account, address = _keys(email)
    with transaction():
        hold_keys(f"sign-in account {account}", f"sign-in address {address}")
        wait = _wait(account, address, now)
        if wait is None:
            db.session.add(SignInFailure(at=now, account=account, address=address))
    return wait  # committed: seen by every parallel attempt before any password is read


def succeeded(email: str) -> None:
    """The password was right: forgive what this account failed from this client."""
    account, address = _keys(email)
    db.session.execute(
        delete(SignInFailure).where(
            SignInFailure.account == account, SignInFailure.address == address
        )
    )
