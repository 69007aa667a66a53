"""Personal API tokens: made, found, noted in use, revoked, and idempotent requests kept.

A token's secret is 32 random bytes: a fast hash of it (SHA-256) is as safe to keep as a
slow one, and lets each request find its token by an index.
"""

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from handoff.accounts.models import Person
from handoff.api.models import SCOPES, ApiToken, IdempotentRequest
from handoff.kernel.db import db, writing
from handoff.kernel.errors import InvalidInput, NotAllowed

PREFIX = "hnd_"
MAX_DAYS = 366 * 2
MAX_TOKENS = 20  # open tokens a person holds at once
USE_NOTED_EVERY = timedelta(minutes=1)  # last use is written at most this often
IDEMPOTENCY_KEPT = timedelta(hours=24)


def hash_of(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def create_token(
    person: Person, *, name: str, scope: str, days: int | None, now: datetime
) -> tuple[ApiToken, str]:
    """A new token of `person`'s and its secret (shown once; only its hash is kept)."""
    name = name.strip()
    if not name:
        raise InvalidInput("Name the token after what will use it.", "name")
    if len(name) > 80:
        raise InvalidInput("Keep the name under 80 characters.", "name")
    if scope not in SCOPES:
        raise InvalidInput("Choose read or write.", "scope")
    if days is not None and not 1 <= days <= MAX_DAYS:
        raise InvalidInput(f"Give a number of days from 1 to {MAX_DAYS}.", "days")
    if not person.active:
        raise NotAllowed("A closed account holds no tokens.")
    if len(open_tokens(person, now)) >= MAX_TOKENS:
        raise InvalidInput(f"You hold {MAX_TOKENS} tokens already: revoke one first.", "name")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        person_id=person.id,
        name=name,
        scope=scope,
        secret_hash=hash_of(secret),
        shown=secret[: len(PREFIX) + 4],
        created_at=now,
        expires_at=now + timedelta(days=days) if days else None,
    )
    db.session.add(token)
    db.session.flush()
    return token, secret


def open_tokens(person: Person, now: datetime) -> list[ApiToken]:
    """The person's tokens that still work, newest first."""
    tokens = db.session.scalars(
        select(ApiToken)
        .where(ApiToken.person_id == person.id, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.created_at.desc(), ApiToken.id.desc())
    )
    return [t for t in tokens if t.expires_at is None or t.expires_at > now]


def token_for(secret: str, now: datetime) -> ApiToken | None:
    """The token whose secret this is, if it still works (None: unknown, revoked, expired, or
    its owner's account closed)."""
    if not secret.startswith(PREFIX) or len(secret) > 200:
        return None
    token = db.session.scalar(select(ApiToken).where(ApiToken.secret_hash == hash_of(secret)))
    if token is None or not token.usable_at(now):
        return None
    return token


def note_use(token: ApiToken, now: datetime) -> bool:
    """Write when the token was last used, at most once a minute (a request that only reads
    writes nothing more often than that). Answer whether it wrote."""
    if token.last_used_at is not None and now - token.last_used_at < USE_NOTED_EVERY:
        return False
    db.session.execute(
        update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now),
        execution_options={"synchronize_session": False},
    )
    return True


def revoke_token(actor: Person, token_id: int, now: datetime) -> ApiToken:
    """Revoke one of the actor's tokens (an admin may revoke anyone's)."""
    token = db.session.get(ApiToken, token_id)
    if token is None or (token.person_id != actor.id and not actor.is_admin):
        raise NotAllowed("That is not one of your tokens.")
    if token.revoked_at is None:
        token.revoked_at = now
    return token


def earlier_answer(person: Person, key: str) -> IdempotentRequest | None:
    """The answer kept for this person's request with this Idempotency-Key, if any."""
    return db.session.scalar(
        select(IdempotentRequest).where(
            IdempotentRequest.person_id == person.id, IdempotentRequest.key == key
        )
    )


def keep_answer(
    person: Person, key: str, fingerprint: str, status: int, body: str, now: datetime
) -> None:
    """Keep the answer to a request with an Idempotency-Key, in the transaction of its work."""
    db.session.add(
        IdempotentRequest(
            person_id=person.id,
            key=key,
            fingerprint=fingerprint,
            status=status,
            body=body,
            created_at=now,
        )
    )


def forget_old_answers(now: datetime) -> int:
    """Idempotency keys are kept a day (a retry comes within minutes, not weeks): a round job
    of the nagger. Answer how many were forgotten."""
    db.session.rollback()
    with writing():
        result = db.session.execute(
            delete(IdempotentRequest).where(IdempotentRequest.created_at < now - IDEMPOTENCY_KEPT)
        )
        db.session.commit()
    return result.rowcount or 0
