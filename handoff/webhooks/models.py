"""Webhooks: the addresses admins register for chosen events, and each delivery owed to one."""

from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from handoff.kernel.db import UTCDateTime, db

# A delivery's states: owed (waiting for its turn or a retry), delivered (a 2xx came back).
OWED, DELIVERED = "owed", "delivered"


class Webhook(db.Model):
    """An address that hears of chosen events, each body signed with its secret (Standard
    Webhooks: HMAC-SHA256 over id, timestamp and body). After repeated failure it is paused:
    what it is owed waits, and is delivered when an admin resumes it."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    description: Mapped[str] = mapped_column(String(200), default="")
    events: Mapped[list] = mapped_column(JSON)  # the event types it hears of
    secret: Mapped[str] = mapped_column(String(100))  # whsec_…: the receiver checks with it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("person.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)  # False: paused
    paused_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    pause_reason: Mapped[str] = mapped_column(Text, default="")
    # Failed attempts in a row, and when the next may be made (a back-off for the address,
    # not for each delivery: a receiver that is down is not asked a thousand times a round).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    retry_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The nagger delivering to it now, until when (another takes over after that).
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    created_by = relationship("Person")


class WebhookDelivery(db.Model):
    """One event owed to one webhook: sent until a 2xx comes back, oldest first, always with
    the same id (the receiver deduplicates on it: delivered at least once)."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        Index("ix_webhook_delivery_owed", "webhook_id", "status", "id"),
        Index("ix_webhook_delivery_webhook", "webhook_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id"))
    message_id: Mapped[str] = mapped_column(String(64), unique=True)  # webhook-id: msg_…
    event_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)  # the JSON sent, as signed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16), default=OWED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column(Integer)  # the HTTP status, if any came
    last_response: Mapped[str] = mapped_column(Text, default="")  # or what went wrong
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    webhook = relationship(Webhook)
