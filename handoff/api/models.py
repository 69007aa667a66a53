"""What the API keeps: personal tokens, and the first answer to each idempotent request."""

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff.kernel.db import UTCDateTime, db

SCOPES = {"read": "Read only", "write": "Read and write"}


class ApiToken(db.Model):
    """A personal API token: it acts with exactly its owner's rights, within its scope, until
    it expires or is revoked. Only a hash of its secret is kept; the secret is shown once."""

    __tablename__ = "api_token"
    __table_args__ = (Index("ix_api_token_person", "person_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    name: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(8))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    shown: Mapped[str] = mapped_column(String(16))  # its first characters, to tell it apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    person = relationship("Person", lazy="joined")

    @property
    def may_write(self) -> bool:
        return self.scope == "write"

    def usable_at(self, now: datetime) -> bool:
        """Not revoked, not expired, and its owner's account open."""
        expired = self.expires_at is not None and self.expires_at <= now
        return self.revoked_at is None and not expired and self.person.active


class IdempotentRequest(db.Model):
    """The first answer to a request sent with an Idempotency-Key: a retry with the same key
    gets it again instead of doing the work twice. Kept in the transaction that did the work,
    so that either both are saved or neither."""

    __tablename__ = "api_idempotent_request"
    __table_args__ = (
        UniqueConstraint("person_id", "key", name="uq_api_idempotent_request_person_key"),
        Index("ix_api_idempotent_request_created", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    key: Mapped[str] = mapped_column(String(255))
    fingerprint: Mapped[str] = mapped_column(String(64))  # of the method, path and body
    status: Mapped[int] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
