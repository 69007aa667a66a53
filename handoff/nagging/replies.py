"""Answering a reminder by replying to it: "accept", "decline: no van free until Monday",
"counter: Thursday 14:00", "done".

Each reminder mail carries a Reply-To of its own, reply+<message>.<signature>@<domain>: the
signature (HMAC of the outbox message and the address it went to, with the app's secret)
says which mail it answers, hence which person and which handoffs. A reply is read from its
first line above the quoted text and acted on through the same verbs as the pages, as the
person the reminder went to, and answered with a short mail saying what was done, or what
went wrong with nothing changed. Only a reply from the address the reminder went to is
taken: any other (forwarded, or a forged From) is refused, noted, and not answered. Every
reply is noted once, by its Message-ID, so a mail server's retry does nothing twice.
"""

import base64
import email
import hashlib
import hmac
import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.utils import getaddresses, make_msgid, parseaddr
from zoneinfo import ZoneInfo

import dateparser
from flask import current_app
from sqlalchemy import ForeignKey, Integer, String, Text, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from handoff.accounts.models import Person
from handoff.commitments import services
from handoff.commitments.lifecycle import Action, InvalidTransition
from handoff.commitments.models import Commitment, Handoff
from handoff.kernel.db import UTCDateTime, db, transaction
from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed
from handoff.mail import OutboxMessage, mail_domain, one_line
from handoff.nagging.models import Nag

log = logging.getLogger(__name__)

ADDRESS = re.compile(r"reply\+(\d{1,12})\.(\d{1,12})\.([a-z2-7]{16})@", re.IGNORECASE)
REFERENCE = re.compile(r"^[Cc]-?(\d{1,10})\b[\s:,.-]*")  # only where a line starts
# The first line of a reply, lower-cased: the word, then what it says after a colon or space.
# (not "yes", "ok" or "no": "No problem, will do it Friday" is no decline)
WORDS = {
    "accept": Action.ACCEPT,
    "accepted": Action.ACCEPT,
    "decline": Action.DECLINE,
    "declined": Action.DECLINE,
    "counter": Action.COUNTER,
    "done": Action.COMPLETE,
    "complete": Action.COMPLETE,
}
QUOTE_STARTS = (
    re.compile(r"^>"),
    re.compile(r"^On .+ wrote:\s*$"),
    re.compile(r"^Am .+ schrieb .+:\s*$"),
    re.compile(r"^-+\s*Original Message\s*-+$", re.IGNORECASE),
    re.compile(r"^From: "),
    re.compile(r"^_{5,}$"),
)
TAKEN, REFUSED = "taken", "refused"
MAX_BYTES = 1_000_000


class InboundReply(db.Model):
    """A reply received, once per Message-ID: what it asked, and what came of it."""

    __tablename__ = "inbound_reply"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_key: Mapped[str] = mapped_column(String(255), unique=True)  # its Message-ID
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    from_address: Mapped[str] = mapped_column(String(254))
    outbox_message_id: Mapped[int | None] = mapped_column(ForeignKey("outbox_message.id"))
    first_line: Mapped[str] = mapped_column(String(500), default="")
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    handoff_id: Mapped[int | None] = mapped_column(Integer)


# --- the address a reminder is answered at ------------------------------------------------------


def _signature(message_id: int, lead: int, to_address: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    text = f"reply:{message_id}:{lead}:{to_address.lower()}".encode()
    digest = hmac.new(key, text, hashlib.sha256).digest()
    return base64.b32encode(digest).decode().lower()[:16]


def reply_address(message: OutboxMessage, lead: int | None) -> str:
    """Where a reply to this reminder mail goes: tied to it, to its recipient, and to the
    handoff a reply answers unless it names another (`lead`: the first the mail shows)."""
    domain = current_app.config.get("MAIL_IN_DOMAIN") or mail_domain()
    lead = lead or 0
    signature = _signature(message.id, lead, message.to_address)
    return f"reply+{message.id}.{lead}.{signature}@{domain}"


# --- reading a reply ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Said:
    action: Action | None
    rest: str  # what follows the word: a reason, a date and terms, a note
    reference: int | None  # the number of a commitment named in the line (C-1042), if any
    line: str


def first_line(text: str) -> str:
    """The first line that says something, above the quoted mail."""
    for raw in text.splitlines():
        line = raw.strip()
        if any(p.match(line) for p in QUOTE_STARTS):
            break
        if line:
            return line[:500]
    return ""


def read_line(line: str) -> Said:
    """What the first line asks: "decline: no van", "C-1042 accept", "counter Thu 14:00"."""
    found = REFERENCE.match(line)
    reference = int(found.group(1)) if found else None
    rest = line[found.end() :].strip() if found else line
    parts = re.split(r"[:\s]+", rest, maxsplit=1)
    word = parts[0].lower().strip(".!,;") if parts else ""
    after = parts[1].strip() if len(parts) > 1 else ""
    return Said(WORDS.get(word), after, reference, line)


def _automatic(mail) -> str | None:
    """Why this mail was not written by a person (an out-of-office answer, a list's mail,
    a bounce), or None. Such mail never answers a handoff, and is not answered."""
    submitted = str(mail.get("Auto-Submitted", "no")).strip().lower()
    if submitted != "no":
        return f"sent automatically (Auto-Submitted: {submitted})"
    precedence = str(mail.get("Precedence", "")).strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"sent automatically (Precedence: {precedence})"
    if any(mail.get(name) for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return "sent automatically (an auto-reply)"
    return None


def authenticated(mail, sender: str, authserv_id: str) -> bool:
    """Whether the receiving mail server (`authserv_id`, the name it writes at the head of its
    Authentication-Results; it removes any such header a sender wrote) found the sender's
    own domain authentic: DMARC pass for it, or a DKIM signature of it that passed."""
    domain = sender.rpartition("@")[2].lower()
    for header in mail.get_all("Authentication-Results", []):
        head, _, results = str(header).partition(";")
        if not head.split() or head.split()[0].lower() != authserv_id.lower():
            continue  # written by someone else: it proves nothing
        for result in results.split(";"):
            words = dict(
                part.split("=", 1)
                for part in re.sub(r"\([^)]*\)", " ", result).split()
                if "=" in part
            )
            words = {k.lower(): v.lower().strip('"') for k, v in words.items()}
            if words.get("dmarc") == "pass" and words.get("header.from") == domain:
                return True
            if words.get("dkim") == "pass" and (
                words.get("header.d") == domain or words.get("header.i", "").endswith("@" + domain)
            ):
                return True
    return False


def _body_text(mail) -> str:
    part = mail.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    text = part.get_content()
    if part.get_content_type() == "text/html":
        text = re.sub(r"<[^>]+>", "\n", text)
    return text


# --- taking a reply -----------------------------------------------------------------------------


@dataclass
class Outcome:
    outcome: str
    detail: str
    answer_to: str | None = None  # whom the answer mail goes to (None: nobody)


def take_reply(
    raw: bytes, recipients: list[str], now: datetime, envelope_from: str | None = None
) -> Outcome:
    """Take one reply mail as the SMTP server received it (`recipients` and `envelope_from`:
    the envelope's; without one, the Return-Path header's, if any)."""
    if len(raw) > MAX_BYTES:
        return Outcome(REFUSED, "too large to be a reply")
    try:
        mail = email.message_from_bytes(raw, policy=policy.default)
        key = str(mail.get("Message-ID") or "").strip()[:255] or hashlib.sha256(raw).hexdigest()
        sender = Person.normalise_email(parseaddr(str(mail.get("From", "")))[1])
        to = [str(v) for v in mail.get_all("To", [])]
        addresses = recipients + [a for _, a in getaddresses(to)]
        line = first_line(_body_text(mail))
        automatic = _automatic(mail)
        if envelope_from is None and mail.get("Return-Path") is not None:
            envelope_from = parseaddr(str(mail["Return-Path"]))[1]
        authserv_id = current_app.config.get("MAIL_IN_AUTHSERV_ID")
        if not automatic and authserv_id and not authenticated(mail, sender, authserv_id):
            automatic = f"its sender was not authenticated by {authserv_id} (DKIM or DMARC)"
    except Exception as error:  # whatever a mail holds, it is refused, never retried forever
        key, sender, addresses, line = hashlib.sha256(raw).hexdigest(), "", recipients, ""
        automatic = f"it could not be read ({type(error).__name__})"
    with transaction():
        if db.session.scalar(select(InboundReply.id).where(InboundReply.message_key == key)):
            return Outcome(REFUSED, "already taken (the same mail again)")
        if automatic:
            outcome, message, handoff_id = Outcome(REFUSED, automatic), None, None
        else:
            outcome, message, handoff_id = _act(addresses, sender, envelope_from, line, now)
        db.session.add(
            InboundReply(
                message_key=key,
                received_at=now,
                from_address=sender[:254],
                outbox_message_id=message.id if message else None,
                first_line=line,
                outcome=outcome.outcome,
                detail=outcome.detail[:2000],
                handoff_id=handoff_id,
            )
        )
        if outcome.answer_to:
            _answer(outcome, message, mail, now)
        try:
            db.session.flush()
        except IntegrityError:  # the same mail, taken at this moment by another listener
            db.session.rollback()
            return Outcome(REFUSED, "already taken (the same mail again)")
    if outcome.outcome == REFUSED:
        log.warning("a reply from %s was refused: %s", sender, outcome.detail)
    else:
        log.info("a reply from %s was taken: %s", sender, outcome.detail)
    return outcome


def _act(addresses, sender: str, envelope_from: str | None, line: str, now: datetime):
    """Check who answers what, then act: (Outcome, the reminder mail, the handoff)."""
    for address in addresses:
        found = ADDRESS.search(address or "")
        if found:
            break
    else:
        return Outcome(REFUSED, "not sent to a reply address"), None, None
    message = db.session.get(OutboxMessage, int(found.group(1)))
    lead = int(found.group(2))
    if message is None or not hmac.compare_digest(
        found.group(3).lower(), _signature(message.id, lead, message.to_address)
    ):
        return Outcome(REFUSED, "the reply address's signature does not hold"), None, None
    expected = Person.normalise_email(message.to_address)
    envelope = Person.normalise_email(envelope_from) if envelope_from is not None else expected
    if sender != expected or envelope != expected:
        shown = sender if sender != expected else f"{envelope or 'no address'} (its envelope)"
        detail = f"sent from {shown or 'no address'}, not from {message.to_address}, to whom "
        detail += "the reminder went: refused (a forwarded or forged reply)"
        return Outcome(REFUSED, detail), message, None
    person = db.session.get(Person, message.person_id) if message.person_id else None
    if person is None or not person.active:
        return Outcome(REFUSED, "the reminder's recipient cannot act any more"), message, None
    days = current_app.config["LINK_MAX_AGE_DAYS"]
    if message.created_at + timedelta(days=days) < now:
        detail = (
            f"This reminder is older than {days} days, so a reply to it can no longer act "
            "(its signature has expired). Nothing was changed: answer on the handoff's page."
        )
        return Outcome(REFUSED, detail, person.email), message, None
    return _answer_handoff(message, lead, person, read_line(line), now)


def _answer_handoff(message: OutboxMessage, lead: int, person: Person, said: Said, now):
    handoffs = list(
        db.session.scalars(
            select(Handoff)
            .join(Nag, Nag.handoff_id == Handoff.id)
            .where(Nag.message_id == message.id)
            .order_by(Handoff.id)
        ).unique()
    )
    mine = [h for h in dict.fromkeys(handoffs)]
    if said.action is None:
        words = "accept, decline: <reason>, counter: <date or terms>, done"
        detail = f"“{said.line[:80]}” is no answer we know. Reply with one of: {words}."
        return Outcome(REFUSED, detail + " Nothing was changed.", person.email), message, None
    if said.reference is not None:  # the one it names
        named_id = Commitment.id_from_reference(f"C-{said.reference}")
        mine = [h for h in mine if h.commitment_id == named_id]
    else:  # the first the mail shows
        mine = [h for h in mine if h.id == lead]
    if len(mine) != 1:
        named = ", ".join(sorted({Commitment.reference_of(h.commitment_id) for h in handoffs}))
        detail = (
            f"This reminder is about {named}: start the line with one of them, such as "
            f"“{Commitment.reference_of(handoffs[0].commitment_id)} accept”."
            if handoffs
            else "This reminder is about no handoff you can answer by mail."
        )
        return Outcome(REFUSED, detail + " Nothing was changed.", person.email), message, None
    handoff = mine[0]
    try:
        answer = _given(said, person, now)
        outcome = services.give_answer(handoff, said.action, person, now, **answer)
    except InvalidTransition:
        db.session.rollback()
        handoff = db.session.get(Handoff, handoff.id)
        by = handoff.changed_by.name
        detail = f"{handoff.commitment.reference} was already {handoff.state} by {by}."
        return _refused(detail, person, message, handoff)
    except (InvalidInput, NotAllowed, Conflict) as error:
        db.session.rollback()
        return _refused(str(error), person, message, handoff)
    handoff = outcome.handoff
    reference = handoff.commitment.reference
    if not outcome.changed:
        detail = f"{reference} was {handoff.state} already; nothing more was changed."
    else:
        detail = f"{reference} ({handoff.department.name}): {_done_words(said, handoff, person)}."
    return Outcome(TAKEN, detail, person.email), message, handoff.id


def _refused(detail: str, person, message, handoff):
    # (the rollback dropped what was read: read them again for the record and the answer)
    message = db.session.get(OutboxMessage, message.id)
    return Outcome(REFUSED, f"{detail} Nothing was changed.", person.email), message, handoff.id


def _given(said: Said, person: Person, now: datetime) -> dict:
    if said.action == Action.DECLINE:
        return {"reason": said.rest}
    if said.action == Action.COUNTER:
        return _counter(said.rest, person, now)
    return {"note": said.rest}


def _counter(rest: str, person: Person, now: datetime) -> dict:
    """'Thursday 14:00' is a date (in the person's time zone, the next one to come);
    anything else is terms."""
    zone = person.time_zone or current_app.config["DEFAULT_TIME_ZONE"]
    moment = None
    if rest:
        moment = _parsed(rest, zone, now)
    if moment is not None:
        return {"due_at": moment, "terms": "", "note": f"By reply: {rest}"}
    return {"due_at": None, "terms": rest, "note": ""}


def _parsed(rest: str, zone: str, now: datetime) -> datetime | None:
    try:
        return dateparser.parse(
            rest,
            settings={
                "PREFER_DATES_FROM": "future",
                "TIMEZONE": zone,
                "RETURN_AS_TIMEZONE_AWARE": True,
                "RELATIVE_BASE": now.astimezone(ZoneInfo(zone)).replace(tzinfo=None),
            },
        )
    except (ValueError, OverflowError, OSError):  # a date past what a datetime holds
        return None


def _done_words(said: Said, handoff: Handoff, person: Person) -> str:
    if said.action == Action.COUNTER and handoff.counter_due_at:
        zone = person.time_zone or current_app.config["DEFAULT_TIME_ZONE"]
        local = handoff.counter_due_at.astimezone(ZoneInfo(zone))
        return f"countered, for {local:%a %d %b %Y %H:%M} ({zone})"
    return {
        Action.ACCEPT: "accepted",
        Action.DECLINE: "declined",
        Action.COUNTER: "countered",
        Action.COMPLETE: "marked done",
    }[said.action]


def _answer(outcome: Outcome, message: OutboxMessage | None, mail, now: datetime) -> None:
    """A short mail back to the person: what was done, or what went wrong."""
    subject = str(mail.get("Subject", "")) or (message.subject if message else "Your reply")
    done = outcome.outcome == TAKEN
    text = (
        f"{'Done' if done else 'Not done'}: {outcome.detail}\n\n"
        "(You answered a Handoff reminder by mail. This is its confirmation.)\n"
    )
    reply_to = (mail.get("Message-ID") or "").strip()[:255] or None
    db.session.add(
        OutboxMessage(
            message_id=make_msgid(domain=mail_domain()),
            to_address=outcome.answer_to,
            to_name="",
            person_id=message.person_id if message else None,
            subject=one_line(("Re: " + subject) if not subject.startswith("Re:") else subject, 300),
            body_text=text,
            body_html="".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n")),
            thread_id=reply_to,
            next_attempt_at=now,
            created_at=now,
        )
    )
