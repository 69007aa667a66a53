"""Signed links in reminder mails: tied to one handoff, one recipient, and the handoff as it
was when the mail was written; they expire."""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

SALT = "handoff-email-action"


@dataclass(frozen=True)
class LinkClaim:
    handoff_id: int
    person_id: int
    written_for: datetime  # the handoff's last change when the mail was written


class LinkExpired(Exception):
    """The link is older than it may be."""


class LinkInvalid(Exception):
    """The link was altered, or is not one of ours."""


def _serializer() -> URLSafeTimedSerializer:
    return _serializer_for(current_app.config["SECRET_KEY"])


@lru_cache(maxsize=4)
def _serializer_for(secret_key) -> URLSafeTimedSerializer:
    """One serializer per key (a digest signs a link for each answer of ten items)."""
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def make_token(handoff, person_id: int) -> str:
    """A token for `person_id` to act on `handoff` as it is now."""
    return _serializer().dumps(
        {"h": handoff.id, "p": person_id, "c": handoff.changed_at.timestamp()}
    )


def read_token(token: str, now: datetime | None = None) -> LinkClaim:
    """What a token claims; LinkExpired or LinkInvalid when it cannot be trusted."""
    max_age = current_app.config["LINK_MAX_AGE_DAYS"] * 86400
    serializer = _serializer()
    try:
        data = serializer.loads(token, max_age=max_age)
    except SignatureExpired:
        raise LinkExpired() from None
    except BadSignature:
        raise LinkInvalid() from None
    try:
        return LinkClaim(
            handoff_id=int(data["h"]),
            person_id=int(data["p"]),
            written_for=datetime.fromtimestamp(float(data["c"]), UTC),
        )
    except (KeyError, TypeError, ValueError):
        raise LinkInvalid() from None
