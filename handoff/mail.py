"""The one way mail leaves the program: an outbox table, then SMTP.

A message is written to the outbox in the same transaction as whatever caused it. The
dispatcher claims pending messages (on PostgreSQL with FOR UPDATE SKIP LOCKED), marks them
*sending* until a deadline, sends them over SMTP and marks them *sent*; on failure a message
goes back to *pending* with a back-off. A process that dies mid-send leaves the message
*sending*; after the deadline it is claimed again, so it is sent at most once more. A message
keeps its Message-ID across retries. With no SMTP host configured, mail stays in the outbox,
where admins read it.
"""

import smtplib
import ssl
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

from flask import current_app
from sqlalchemy import ForeignKey, Index, Integer, String, Text, or_, select
from sqlalchemy.orm import Mapped, mapped_column

from handoff.clock import utcnow
from handoff.database import UTCDateTime, writing
from handoff.extensions import db

PENDING, SENDING, SENT = "pending", "sending", "sent"
CLAIM_FOR = timedelta(minutes=5)
# Waits after the 1st, 2nd, … failure; the last one repeats.
BACKOFF = [timedelta(minutes=m) for m in (1, 2, 5, 10, 30, 60)]


class OutboxMessage(db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (Index("ix_outbox_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    to_name: Mapped[str] = mapped_column(String(120), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    thread_id: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


def mail_domain() -> str:
    """The domain part of Message-IDs: the sender's."""
    return current_app.config["MAIL_FROM"].rpartition("@")[2] or "handoff.local"


def as_email(message: OutboxMessage) -> EmailMessage:
    """The message as it goes over the wire: text and HTML parts, threading headers."""
    email = EmailMessage()
    email["From"] = formataddr(
        (current_app.config["MAIL_FROM_NAME"], current_app.config["MAIL_FROM"])
    )
    email["To"] = formataddr((message.to_name, message.to_address))
    email["Subject"] = message.subject
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at)
    if message.thread_id:
        email["In-Reply-To"] = message.thread_id
        email["References"] = message.thread_id
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


@dataclass
class DispatchReport:
    sent: int = 0
    failed: int = 0


def smtp_configured() -> bool:
    return bool(current_app.config["SMTP_HOST"])


def _connect() -> smtplib.SMTP:
    config = current_app.config
    host, port, security = config["SMTP_HOST"], config["SMTP_PORT"], config["SMTP_SECURITY"]
    timeout = config["SMTP_TIMEOUT"]
    if security == "ssl":
        smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=ssl.create_default_context())
    else:
        smtp = smtplib.SMTP(host, port, timeout=timeout)
        if security == "starttls":
            smtp.starttls(context=ssl.create_default_context())
    if config["SMTP_USER"]:
        smtp.login(config["SMTP_USER"], config["SMTP_PASSWORD"])
    return smtp


def _claim(now: datetime, limit: int) -> list[int]:
    """Mark up to `limit` due messages as sending, until a deadline; answer their ids."""
    with writing():
        due = or_(
            (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now),
            (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_until <= now),
        )
        ids = list(
            db.session.scalars(
                select(OutboxMessage.id)
                .where(due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
            message.status = SENDING
            message.claimed_until = now + CLAIM_FOR
            message.attempts += 1
        db.session.commit()
    return ids


def dispatch(now: datetime | None = None, limit: int = 200) -> DispatchReport:
    """Send what is due in the outbox over SMTP; nothing when no SMTP host is configured."""
    report = DispatchReport()
    if not smtp_configured():
        return report
    now = now or utcnow()
    ids = _claim(now, limit)
    if not ids:
        return report
    try:
        smtp = _connect()
    except (OSError, smtplib.SMTPException) as error:
        _give_back(ids, now, f"cannot reach the mail server: {error}")
        report.failed = len(ids)
        return report
    with smtp:
        for message_id in ids:
            message = db.session.get(OutboxMessage, message_id)
            try:
                smtp.send_message(as_email(message))
            except (OSError, smtplib.SMTPException) as error:
                db.session.rollback()
                _give_back([message_id], now, str(error))
                report.failed += 1
                continue
            with writing():
                message = db.session.get(OutboxMessage, message_id)
                message.status = SENT
                message.sent_at = utcnow()
                message.claimed_until = None
                message.last_error = ""
                db.session.commit()
            report.sent += 1
    return report


def _give_back(ids: list[int], now: datetime, error: str) -> None:
    """Put messages back to pending, to be tried again after a back-off."""
    with writing():
        for message in db.session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))):
            wait = BACKOFF[min(message.attempts, len(BACKOFF)) - 1]
            message.status = PENDING
            message.claimed_until = None
            message.next_attempt_at = now + wait
            message.last_error = error[:2000]
        db.session.commit()
