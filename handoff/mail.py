"""The one way mail leaves the program: an outbox table, then SMTP.

A message is written to the outbox in the same transaction as whatever caused it. The
dispatcher claims one due message at a time (on PostgreSQL with FOR UPDATE SKIP LOCKED),
marks it *sending* until a short deadline (MAIL_CLAIM_SECONDS), sends it over SMTP and marks
it *sent*. A process that dies mid-send leaves that one message *sending*; after the deadline
it is claimed again, so it is sent at most once more. A message keeps its Message-ID across
retries. With no SMTP host configured, mail stays in the outbox, where admins read it.

One message never stops the others: a message that cannot be built, or that the mail server
refuses for good (5xx), is *failed* at once with its reason; a passing trouble (4xx, a
timeout, a dropped connection) puts it back to *pending* with a back-off, and after
MAIL_MAX_ATTEMPTS it is *failed*. An admin can retry a failed message from the outbox page.
A `vet` function given to `dispatch` re-checks each message just before it leaves; a message
that is no longer true is *withdrawn*, not sent.
"""

import logging
import re
import smtplib
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from flask import current_app
from sqlalchemy import (
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    literal_column,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, mapped_column

from handoff.kernel.clock import utcnow
from handoff.kernel.db import (
    UTCDateTime,
    db,
    locked,
    locked_row,
    skip_locked,
    transaction,
    writing,
)
from handoff.kernel.errors import Conflict

log = logging.getLogger(__name__)

PENDING, SENDING, SENT = "pending", "sending", "sent"
FAILED = "failed"  # cannot be built, refused for good, or out of attempts: an admin may retry
WITHDRAWN = "withdrawn"  # no longer true when it was about to leave; never sent
STATUSES = (PENDING, SENDING, SENT, FAILED, WITHDRAWN)
# Waits after the 1st, 2nd, … failure; the last one repeats.
BACKOFF = [timedelta(minutes=m) for m in (1, 2, 5, 10, 30, 60)]
SUBJECT_LIMIT, NAME_LIMIT = 300, 120  # the columns' sizes
ERROR_LIMIT = 2000
# Whitespace (Python's \s knows the Unicode line and paragraph separators, U+0085 …) and
# every C0/C1 control character: any of them can break a header or smuggle in a new one.
_BREAKS = re.compile(r"[\s\x00-\x1f\x7f-\x9f]+")


class OutboxMessage(db.Model):
    __tablename__ = "outbox_message"
    __table_args__ = (
        Index("ix_outbox_status_next", "status", "next_attempt_at"),
        # the outbox page: newest first, of one status
        Index("ix_outbox_status_id", "status", "id"),
        # messages whose words are still kept, oldest first: what pruning looks through
        Index(
            "ix_outbox_words_kept",
            "created_at",
            sqlite_where=text("body_html != ''"),
            postgresql_where=text("body_html != ''"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[str] = mapped_column(String(255), unique=True)
    to_address: Mapped[str] = mapped_column(String(254), index=True)
    to_name: Mapped[str] = mapped_column(String(120), default="")
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"))
    subject: Mapped[str] = mapped_column(String(300))
    body_text: Mapped[str] = mapped_column(Text)
    body_html: Mapped[str] = mapped_column(Text)
    thread_id: Mapped[str | None] = mapped_column(String(255))
    reply_to: Mapped[str | None] = mapped_column(String(254))  # where an answer by reply goes
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime)
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str] = mapped_column(Text, default="")
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# A vet answers why a claimed message must not leave any more, or None to send it.
Vet = Callable[[OutboxMessage, datetime], str | None]


def one_line(text: str, limit: int) -> str:
    """`text` safe for a mail header: one line, each run of blanks one space, at most `limit`."""
    line = _BREAKS.sub(" ", text or "").strip()
    if limit < 1:
        return ""
    if len(line) <= limit:
        return line
    return line[: limit - 1].rstrip() + "…"


def mail_domain() -> str:
    """The domain part of Message-IDs: the sender's."""
    return current_app.config["MAIL_FROM"].rpartition("@")[2] or "handoff.local"


def _address(name: str, address: str) -> Address:
    """A header address; refuses anything but one plain address (no second one smuggled in)."""
    try:
        return Address(display_name=one_line(name, NAME_LIMIT), addr_spec=address)
    except (ValueError, IndexError) as error:  # the parser's defects are ValueErrors
        raise ValueError(f"{address!r} is not a mail address ({error})") from error


def _sender() -> Address:
    config = current_app.config
    return _address(config["MAIL_FROM_NAME"], config["MAIL_FROM"])


def as_email(message: OutboxMessage) -> EmailMessage:
    """The message as it goes over the wire: text and HTML parts, threading headers."""
    email = EmailMessage()
    email["From"] = _sender()
    email["To"] = _address(message.to_name, message.to_address)
    # Digests put titles and customer names in the subject; a line break there would
    # end the header (or start another), so it is folded to one line here too.
    email["Subject"] = one_line(message.subject, SUBJECT_LIMIT)
    email["Message-ID"] = message.message_id
    email["Date"] = format_datetime(message.created_at)
    if message.thread_id:
        email["In-Reply-To"] = message.thread_id
        email["References"] = message.thread_id
    if message.reply_to:
        email["Reply-To"] = message.reply_to
    email["Auto-Submitted"] = "auto-generated"
    email.set_content(message.body_text)
    email.add_alternative(message.body_html, subtype="html")
    return email


@dataclass
class DispatchReport:
    """What one dispatch round did with the messages it claimed."""

    sent: int = 0
    failed: int = 0  # not delivered because of an error: `retrying` plus `gave_up`
    retrying: int = 0  # back to pending, tried again after a back-off
    gave_up: int = 0  # now failed: cannot be built, refused for good, or out of attempts
    withdrawn: int = 0  # vetted out just before leaving
    stalled: int = 0  # not sent: this process stood still after the last check, left to others


def smtp_configured() -> bool:
    """Whether mail leaves over SMTP (else it stays in the outbox)."""
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


def _hang_up(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (OSError, smtplib.SMTPException):
        smtp.close()


class _Claim:
    """One message this dispatcher holds: its id, the deadline it holds it until, its email."""

    def __init__(self, message_id: int, until: datetime):
        self.id, self.until = message_id, until
        self.email: EmailMessage | None = None
        self.problem = ""  # why it cannot be built, if it cannot


def _claim(now: datetime, until: datetime) -> _Claim | None:
    """Mark the next due message as sending until `until` and build its email; None if none."""
    due = or_(
        (OutboxMessage.status == PENDING) & (OutboxMessage.next_attempt_at <= now),
        (OutboxMessage.status == SENDING) & (OutboxMessage.claimed_until <= now),
    )
    with transaction():
        message = db.session.scalar(
            skip_locked(
                select(OutboxMessage)
                .where(due)
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(1)
            )
        )
        if message is None:
            return None
        message.status = SENDING
        message.claimed_until = until
        message.attempts += 1
        claim = _Claim(message.id, until)
        try:
            claim.email = as_email(message)
        except Exception as error:  # whatever the row holds, it must not stop the round
            claim.problem = f"cannot be built: {error}"
    return claim


def _still_true(
    claim: _Claim, now: datetime, until: datetime, vet: Vet | None, vet_at: datetime
) -> str:
    """Re-check the claimed message just before it leaves (as of `vet_at`, the round's now
    plus the time it has taken so far): "send", "withdrawn", "skip", "retry" or "fail".

    It runs in its own write transaction, committed before anything goes over the network, so
    no lock is held while the mail server answers; whatever vet changed is committed with it.
    "skip": the claim ran out and another dispatcher holds the message now. "fail": vet raised
    (the reason is in claim.problem). The claim is extended from here, since connecting may
    have used up part of it.
    """
    with writing():
        message = locked_row(OutboxMessage, claim.id)
        if message is None or message.status != SENDING or message.claimed_until != claim.until:
            db.session.rollback()  # someone else holds it now (our claim ran out): theirs
            return "skip"
        try:
            reason = vet(message, vet_at) if vet else None
        except OperationalError:
            db.session.rollback()  # a lock or the connection, not the message: try it later
            return "retry"
        except Exception as error:
            db.session.rollback()
            claim.problem = f"cannot be vetted: {error!r}"
            return "fail"
        if reason:
            message.status = WITHDRAWN
            message.claimed_until = None
            message.last_error = reason[:ERROR_LIMIT]
        else:
            message.claimed_until = claim.until = until
        db.session.commit()
    return "withdrawn" if reason else "send"


def _permanent(error: Exception) -> bool:
    """Whether the mail server refused the message for good (a 5xx answer), not just for now."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPResponseException):  # sender refused, data error …
        return error.smtp_code >= 500
    # Raised when the address needs SMTPUTF8 and the server lacks it: retrying cannot help.
    return isinstance(error, smtplib.SMTPNotSupportedError)


def _connection_survives(error: Exception) -> bool:
    """Whether the session is still usable after this error (smtplib resets after a refusal)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return True
    if isinstance(error, smtplib.SMTPServerDisconnected):
        return False
    return isinstance(error, smtplib.SMTPResponseException) and error.smtp_code != 421


def _smtp_error(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return "; ".join(
            f"{address} refused: {code} {text.decode(errors='replace')}"
            for address, (code, text) in error.recipients.items()
        )
    if isinstance(error, smtplib.SMTPResponseException):
        text = error.smtp_error
        text = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
        return f"{error.smtp_code} {text}"
    return str(error) or type(error).__name__


def dispatch(
    now: datetime | None = None, limit: int = 200, vet: Vet | None = None
) -> DispatchReport:
    """Send what is due in the outbox over SMTP, one message at a time; never raises for one."""
    report = DispatchReport()
    if not smtp_configured():
        return report
    now = now or utcnow()
    try:
        _sender()
    except ValueError as error:
        # Every message would fail to build: wait for the setting to be fixed, claim nothing.
        log.error("mail: not sending, MAIL_FROM is wrong: %s", error)
        return report
    claim_for = timedelta(seconds=current_app.config["MAIL_CLAIM_SECONDS"])
    started = time.monotonic()

    def deadline() -> datetime:
        # Measured from when the claim is made, not from the start of the round: a long
        # round must not leave the message it is sending open to another dispatcher.
        return now + timedelta(seconds=time.monotonic() - started) + claim_for

    smtp: smtplib.SMTP | None = None
    try:
        for _ in range(limit):
            claim = _claim(now, deadline())
            if claim is None:
                break
            if claim.problem:
                _fail(claim.id, now, claim.problem)
                report.failed += 1
                report.gave_up += 1
                continue
            if smtp is None:
                try:
                    smtp = _connect()
                except (OSError, smtplib.SMTPException) as error:
                    # The server, not the message: this one backs off, the rest stay as they are.
                    gave_up = _give_back(claim.id, now, f"cannot reach the mail server: {error}")
                    report.failed += 1
                    report.gave_up += gave_up
                    report.retrying += not gave_up
                    break
            elapsed = timedelta(seconds=time.monotonic() - started)
            verdict = _still_true(claim, now, deadline(), vet, now + elapsed)
            if verdict == "skip":
                continue
            if verdict == "retry":
                gave_up = _give_back(claim.id, now, "could not be checked just now")
                report.failed += 1
                report.gave_up += gave_up
                report.retrying += not gave_up
                continue
            if verdict == "withdrawn":
                log.info("mail: message %s withdrawn before it left", claim.id)
                report.withdrawn += 1
                continue
            if verdict == "fail":
                _fail(claim.id, now, claim.problem)
                report.failed += 1
                report.gave_up += 1
                continue
            if _stopped_since(claim, now, started):
                # This process stood still (stopped, swapped out) after the claim was checked:
                # by now another dispatcher may have taken the message over. Send nothing;
                # whoever holds it when the claim runs out sends it, once.
                log.warning("mail: message %s not sent: this process stood still", claim.id)
                report.stalled += 1
                continue
            try:
                smtp.send_message(claim.email)
            except (OSError, smtplib.SMTPException) as error:
                report.failed += 1
                if _permanent(error):
                    _fail(claim.id, now, f"refused by the mail server: {_smtp_error(error)}")
                    report.gave_up += 1
                else:
                    gave_up = _give_back(claim.id, now, _smtp_error(error))
                    report.gave_up += gave_up
                    report.retrying += not gave_up
                if not _connection_survives(error):
                    _hang_up(smtp)
                    smtp = None  # the next message connects afresh
                continue
            except Exception as error:  # e.g. a header the generator cannot write
                _fail(claim.id, now, f"cannot be built: {error!r}")
                report.failed += 1
                report.gave_up += 1
                continue
            _mark_sent(claim.id, now)
            report.sent += 1
    finally:
        if smtp is not None:
            _hang_up(smtp)
    return report


def _stopped_since(claim: _Claim, now: datetime, started: float) -> bool:
    """Whether so much time passed since the claim was last checked that sending now could
    overlap another dispatcher's send: less than an SMTP timeout of the claim is left."""
    moment = now + timedelta(seconds=time.monotonic() - started)
    margin = timedelta(seconds=current_app.config["SMTP_TIMEOUT"])
    return moment >= claim.until - margin


def _mark_sent(message_id: int, now: datetime) -> None:
    with transaction():
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        message.status = SENT
        message.sent_at = now
        message.claimed_until = None
        message.last_error = ""


def _fail(message_id: int, now: datetime, reason: str) -> None:
    """Mark a message failed with its reason; it waits for an admin's retry."""
    log.warning("mail: message %s failed: %s", message_id, reason)
    with transaction():
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        message.status = FAILED
        message.failed_at = now
        message.claimed_until = None
        message.last_error = reason[:ERROR_LIMIT]


def _give_back(message_id: int, now: datetime, error: str) -> bool:
    """Put a message back to pending after a back-off; failed once out of attempts (True)."""
    with transaction():
        message = db.session.get(OutboxMessage, message_id, populate_existing=True)
        attempts = message.attempts
        gave_up = attempts >= current_app.config["MAIL_MAX_ATTEMPTS"]
        if not gave_up:
            message.status = PENDING
            message.claimed_until = None
            message.next_attempt_at = now + BACKOFF[min(attempts, len(BACKOFF)) - 1]
            message.last_error = error[:ERROR_LIMIT]
    if gave_up:
        _fail(message_id, now, f"gave up after {attempts} attempts; last: {error}")
    else:
        log.info("mail: message %s to be tried again: %s", message_id, error)
    return gave_up


# (written as the index's condition is, so that SQLite sees the index serves the query)
KEPT_WORDS = OutboxMessage.body_html != literal_column("''")
PRUNE_BATCH = 500  # messages a round clears at most: a short transaction, however far behind


def prune_old_bodies(now: datetime, keep: timedelta) -> int:
    """Remove the words of mail sent or withdrawn before `keep` ago (who, what, when and
    state stay); answer how many. Bounded per call: the nagger does a batch each round."""
    old = (
        select(OutboxMessage.id)
        .where(
            OutboxMessage.status.in_([SENT, WITHDRAWN]),
            OutboxMessage.created_at < now - keep,
            KEPT_WORDS,
        )
        .order_by(OutboxMessage.created_at)
        .limit(PRUNE_BATCH)
    )
    with transaction():
        ids = list(db.session.scalars(old))
        if ids:
            db.session.execute(
                update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids))
                .values(body_text="", body_html="")
            )
    return len(ids)


def retry(message: OutboxMessage, now: datetime) -> None:
    """Give a failed message a fresh start: pending now, attempts counted from zero."""
    message = locked(message)  # two admins retrying at once: the second is told
    if message.status != FAILED:
        raise Conflict(f"This message is {message.status}; only a failed message is retried.")
    message.status = PENDING
    message.attempts = 0
    message.failed_at = None
    message.claimed_until = None
    message.next_attempt_at = now
