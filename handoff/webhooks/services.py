"""Webhooks: what happened, told to other systems, signed, at least once, in order.

The domain events feed them (handoff/reactions.py): in the event's own transaction, each
webhook that hears of its type is owed a delivery (a row), so nothing is told that did not
commit and nothing that committed is lost. The nagger's round delivers what is owed
(deliver_webhooks): a webhook at a time, claimed by one nagger until a deadline, its
deliveries oldest first, each POSTed with Standard Webhooks headers (webhook-id,
webhook-timestamp, webhook-signature: HMAC-SHA256 with the webhook's secret). A 2xx
delivers it. Anything else stops that webhook's turn and backs it off (10 s, doubling, at
most 30 min); after PAUSE_AFTER failures in a row it is paused and the admins are told by
mail. What it is owed waits for an admin to resume it: nothing is dropped. A nagger that dies
mid-turn leaves its claim to run out; the deliveries it sent but did not mark are sent again
with the same id, which the receiver deduplicates on.
"""

import html
import json
import logging
import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from email.utils import make_msgid
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import event, exists, or_, select
from sqlalchemy.orm import Session
from standardwebhooks.webhooks import Webhook as Signer

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment
from handoff.departments.models import Department
from handoff.kernel import events
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, skip_locked, transaction
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.mail import OutboxMessage, mail_domain, one_line
from handoff.metrics import process_name
from handoff.webhooks.models import DELIVERED, OWED, Webhook, WebhookDelivery

log = logging.getLogger(__name__)

EVENT_TYPES = {
    "commitment.created": "A commitment was recorded",
    "handoff.answered": "A handoff was answered: accepted, countered, declined, done, a counter "
    "taken or rejected, a step taken off the route",
    "handoff.accepted_by_standing_promise": "A standing promise accepted a handoff at once",
    "reminder.sent": "A reminder was written to its recipients",
    "handoff.escalated": "A reminder reached a department's leads, or the organisation",
    "handoff.late": "Accepted work passed its due time undone",
    "customer_owner.changed": "Another department now talks to the customer",
    "commitment.fulfilled": "Every part of a commitment is done",
}
PAUSE_AFTER = 12  # failed attempts in a row (about 2 h 40 min of back-off)
FIRST_WAIT, LONGEST_WAIT = timedelta(seconds=10), timedelta(minutes=30)
TIMEOUT_SECONDS = 10
TURN_SECONDS = 50  # at most this long on one webhook in a round
BATCH = 200  # deliveries read at once
RESPONSE_KEPT = 1000  # characters of a receiver's answer kept to show
MAX_WEBHOOKS = 50

# --- registering -------------------------------------------------------------------------------


def _require_admin(actor: Person) -> None:
    if not actor.is_admin:
        raise NotAllowed("Only admins manage webhooks.")


def _checked_url(url: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018  (a port out of range or not a number raises here)
    except ValueError:
        raise InvalidInput("That is not an address a request can be sent to.", "url") from None
    if parts.scheme not in ("http", "https") or not host:
        raise InvalidInput("Give an address that starts with https:// (or http://).", "url")
    if len(url) > 2000:
        raise InvalidInput("Keep the address under 2,000 characters.", "url")
    return url


def _checked_events(chosen) -> list[str]:
    chosen = [e for e in EVENT_TYPES if e in set(chosen)]
    if not chosen:
        raise InvalidInput("Choose at least one event.", "events")
    return chosen


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32).replace("-", "+").replace("_", "/") + "="


def register(actor: Person, url: str, chosen, description: str, now: datetime) -> Webhook:
    """A new webhook, active at once, with a secret of its own."""
    _require_admin(actor)
    count = db.session.scalar(
        select(db.func.count()).select_from(Webhook).where(Webhook.removed_at.is_(None))
    )
    if count >= MAX_WEBHOOKS:
        raise InvalidInput(f"There are {MAX_WEBHOOKS} webhooks already: remove one first.")
    webhook = Webhook(
        url=_checked_url(url),
        events=_checked_events(chosen),
        description=description.strip()[:200],
        secret=new_secret(),
        created_at=now,
        created_by_id=actor.id,
        active=True,
        failures=0,
    )
    db.session.add(webhook)
    db.session.flush()
    return webhook


def change(actor: Person, webhook: Webhook, url: str, chosen, description: str) -> None:
    _require_admin(actor)
    webhook.url = _checked_url(url)
    webhook.events = _checked_events(chosen)
    webhook.description = description.strip()[:200]


def pause(actor: Person, webhook: Webhook, now: datetime) -> None:
    _require_admin(actor)
    if webhook.active:
        webhook.active, webhook.paused_at = False, now
        webhook.pause_reason = f"Paused by {actor.name}."


def resume(actor: Person, webhook: Webhook, now: datetime) -> None:
    """Deliver again, at once, everything it is owed."""
    _require_admin(actor)
    webhook.active, webhook.paused_at, webhook.pause_reason = True, None, ""
    webhook.failures, webhook.retry_at = 0, None


def remove(actor: Person, webhook: Webhook, now: datetime) -> None:
    """It hears of nothing more and nothing more is delivered; its deliveries stay to read."""
    _require_admin(actor)
    webhook.removed_at, webhook.active = now, False


def roll_secret(actor: Person, webhook: Webhook) -> None:
    _require_admin(actor)
    webhook.secret = new_secret()


def resend(actor: Person, delivery: WebhookDelivery, now: datetime) -> None:
    """Owe a delivery again (with the same id): sent in the next round, if the webhook is
    active."""
    _require_admin(actor)
    delivery.status = OWED
    delivery.webhook.retry_at = None


# --- owing deliveries, in the event's transaction ----------------------------------------------


def _listeners(event_type: str) -> list[Webhook]:
    """The active webhooks that hear of this type (read once a transaction, without writing
    what the transaction changed first: one flush at its end, not one for each reader)."""
    info = db.session.info
    if "webhooks" not in info:
        session = db.session()
        if any(isinstance(row, Webhook) for row in (*session.new, *session.deleted)):
            session.flush()
        with session.no_autoflush:
            info["webhooks"] = list(
                session.scalars(select(Webhook).where(Webhook.removed_at.is_(None)))
            )
    return [w for w in info["webhooks"] if event_type in (w.events or [])]


@event.listens_for(Session, "after_transaction_end")
def _forget_listeners(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("webhooks", None)
        session.info.pop("webhooks_held", None)


def heard(event_type: str) -> bool:
    """Whether any webhook hears of this type: what it would be told is made only then (an
    escalation's department, say, is a query a reminder when nobody listens)."""
    return bool(_listeners(event_type))


def owe(event_type: str, data: dict, at: datetime) -> int:
    """Owe this event to every webhook that hears of it (paused ones too: they get it when
    resumed). Answer how many deliveries were owed."""
    listeners = _listeners(event_type)
    for webhook in listeners:
        message_id = f"msg_{uuid.uuid4().hex}"
        body = {"type": event_type, "timestamp": at.isoformat(), "id": message_id, "data": data}
        db.session.add(
            WebhookDelivery(
                webhook_id=webhook.id,
                message_id=message_id,
                event_type=event_type,
                body=json.dumps(body, separators=(",", ":"), default=str),
                created_at=at,
                status=OWED,
                attempts=0,
            )
        )
    return len(listeners)


def _named(thing) -> dict | None:
    return None if thing is None else {"id": thing.id, "name": thing.name}


def _commitment(commitment: Commitment) -> dict:
    return {
        "reference": commitment.reference,
        "title": commitment.title,
        "customer": _named(commitment.customer),
        "promised_by": _named(commitment.owner_department),
        "promised_at": commitment.promised_at.isoformat(),
    }


def _handoff(handoff) -> dict:
    return {
        "id": handoff.id,
        "department": _named(handoff.department),
        "state": handoff.state,
        "due_at": handoff.due_at.isoformat(),
    }


def on_recorded(e: events.CommitmentRecorded) -> None:
    if heard("commitment.created"):
        _owe_recorded(e)
    # what happened to its steps as it was recorded is told after it, in order
    for event_type, held, at in db.session.info.get("webhooks_held", {}).pop(e.commitment.id, []):
        owe(event_type, held, at)


def _owe_recorded(e: events.CommitmentRecorded) -> None:
    data = {
        "commitment": _commitment(e.commitment),
        "handoffs": [_handoff(h) for h in e.commitment.handoffs],
        "by": _named(e.actor),
    }
    owe("commitment.created", data, e.at)


def on_answered(e: events.HandoffAnswered) -> None:
    if e.by_promise or not heard("handoff.answered"):
        return  # (by a standing promise: told as handoff.accepted_by_standing_promise)
    handoff = e.handoff
    data = {
        "commitment": _commitment(handoff.commitment),
        "handoff": _handoff(handoff),
        "action": e.action,
        "from_state": e.from_state,
        "to_state": e.to_state,
        "by": _named(e.actor),
        "note": handoff.answer_note,
        "counter_due_at": handoff.counter_due_at.isoformat() if handoff.counter_due_at else None,
        "counter_terms": handoff.counter_terms,
    }
    owe("handoff.answered", data, e.at)


def on_accepted_by_promise(e: events.AcceptedByStandingPromise) -> None:
    if not heard("handoff.accepted_by_standing_promise"):
        return
    commitment = e.handoff.commitment
    data = {
        "commitment": _commitment(commitment),
        "handoff": _handoff(e.handoff),
        "standing_promise": e.promise,
    }
    if commitment.created_at == e.at:  # accepted as it is recorded: told after its creation
        held = db.session.info.setdefault("webhooks_held", {})
        held.setdefault(commitment.id, []).append(
            ("handoff.accepted_by_standing_promise", data, e.at)
        )
        return
    owe("handoff.accepted_by_standing_promise", data, e.at)


def on_nag(e: events.NagRecorded) -> None:
    if not heard("reminder.sent"):
        return
    data = {
        "commitment": {"reference": Commitment.reference_of(e.commitment_id)},
        "handoff_id": e.handoff_id,
        "task_id": e.task_id,
        "kind": e.kind,
        "number": e.number,
        "level": e.level,
        "recipients": len(e.recipients),
    }
    owe("reminder.sent", data, e.at)


def on_escalated(e: events.Escalated) -> None:
    if not heard("handoff.escalated"):
        return
    data = {
        "commitment": {"reference": Commitment.reference_of(e.commitment_id)},
        "handoff_id": e.handoff_id,
        "task_id": e.task_id,
        "department": _named(db.session.get(Department, e.department_id)),
        "level": e.level,
    }
    owe("handoff.escalated", data, e.at)


def on_broke(e: events.PromiseBroke) -> None:
    if e.reason != events.LATE or not heard("handoff.late"):
        return  # (a decline or a moved date is told as the answer that broke it)
    data = {"commitment": _commitment(e.handoff.commitment), "handoff": _handoff(e.handoff)}
    owe("handoff.late", data, e.at)


def on_owner_changed(e: events.CustomerOwnerChanged) -> None:
    if not heard("customer_owner.changed"):
        return
    data = {
        "commitment": _commitment(e.commitment),
        "from_department": _named(db.session.get(Department, e.from_department_id)),
        "to_department": _named(db.session.get(Department, e.to_department_id)),
    }
    owe("customer_owner.changed", data, e.at)


def on_fulfilled(e: events.CommitmentFulfilled) -> None:
    if heard("commitment.fulfilled"):
        owe("commitment.fulfilled", {"commitment": _commitment(e.commitment)}, e.at)


# --- delivering, in the nagger's round ---------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is the receiver's answer, not an address to follow: following one would
    turn the POST into a GET without the body, and a 200 to that is no delivery."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


_opener = urllib.request.build_opener(_NoRedirects())


def post(url: str, body: str, headers: dict) -> tuple[int | None, str]:
    """POST the body: the status and the start of the answer (None and why, if none came).
    Only a 2xx delivers; a 3xx is a failure like any other."""
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read(RESPONSE_KEPT).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(RESPONSE_KEPT).decode(errors="replace")
    except (OSError, ValueError) as error:  # refused, timed out, reset, a bad address
        return None, f"{type(error).__name__}: {error}"[:RESPONSE_KEPT]


Send = Callable[[str, str, dict], tuple[int | None, str]]


def backoff(failures: int) -> timedelta:
    return min(FIRST_WAIT * 2 ** max(failures - 1, 0), LONGEST_WAIT)


def deliver_webhooks(now: datetime, send: Send | None = None, who: str | None = None) -> int:
    """Deliver what each active webhook is owed, oldest first: a round job of the nagger.
    Answer how many were delivered."""
    send = send or post
    who = who or process_name()
    delivered = 0
    db.session.rollback()
    owed = exists().where(WebhookDelivery.webhook_id == Webhook.id, WebhookDelivery.status == OWED)
    due = list(
        db.session.scalars(
            select(Webhook.id).where(
                Webhook.active.is_(True),
                Webhook.removed_at.is_(None),
                or_(Webhook.retry_at.is_(None), Webhook.retry_at <= now),
                or_(Webhook.claimed_until.is_(None), Webhook.claimed_until <= now),
                owed,
            )
        )
    )
    db.session.rollback()
    for webhook_id in due:
        if not _claim(webhook_id, now, who):
            continue
        try:
            delivered += _turn(webhook_id, now, send)
        finally:
            with transaction():
                webhook = db.session.get(Webhook, webhook_id)
                if webhook.claimed_by == who:
                    webhook.claimed_by, webhook.claimed_until = None, None
    return delivered


def _claim(webhook_id: int, now: datetime, who: str) -> bool:
    """Hold this webhook for this nagger's turn (another nagger skips it meanwhile). The
    claim runs from the moment it is taken, not from the round's start: a round spends
    minutes on its sweep and other webhooks before it gets here."""
    now = max(now, utcnow())
    with transaction():
        webhook = db.session.scalar(skip_locked(select(Webhook).where(Webhook.id == webhook_id)))
        free = webhook is not None and (
            webhook.claimed_until is None or webhook.claimed_until <= now
        )
        if not free or not webhook.active:
            return False
        webhook.claimed_by = who
        webhook.claimed_until = now + timedelta(seconds=TURN_SECONDS * 2)
    return True


def _turn(webhook_id: int, now: datetime, send: Send) -> int:
    """This webhook's deliveries, oldest first, until one fails or the turn is over."""
    started = time.monotonic()
    delivered, after = 0, 0
    while time.monotonic() - started < TURN_SECONDS:
        db.session.rollback()
        webhook = db.session.get(Webhook, webhook_id)
        if not webhook.active or webhook.removed_at is not None:
            return delivered  # paused or removed meanwhile by an admin
        url, signer = webhook.url, Signer(webhook.secret)
        batch = db.session.execute(
            select(WebhookDelivery.id, WebhookDelivery.message_id, WebhookDelivery.body)
            .where(
                WebhookDelivery.webhook_id == webhook_id,
                WebhookDelivery.status == OWED,
                WebhookDelivery.id > after,
            )
            .order_by(WebhookDelivery.id)
            .limit(BATCH)
        ).all()
        db.session.rollback()  # no transaction is open while a receiver is waited for
        if not batch:
            return delivered
        for delivery_id, message_id, body in batch:
            sent_at = utcnow()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Handoff-Webhooks/1",
                "webhook-id": message_id,
                "webhook-timestamp": str(int(sent_at.timestamp())),
                "webhook-signature": signer.sign(message_id, sent_at, body),
            }
            status, answer = send(url, body, headers)
            ok = status is not None and 200 <= status < 300
            _record(webhook_id, delivery_id, now, status, answer, ok)
            if not ok:
                return delivered
            delivered += 1
            after = delivery_id
            if time.monotonic() - started >= TURN_SECONDS:
                break
    return delivered


def _record(webhook_id, delivery_id, now, status, answer, ok) -> None:
    now = max(now, utcnow())  # (the back-off runs from the failure, not the round's start)
    with transaction():
        delivery = db.session.get(WebhookDelivery, delivery_id)
        webhook = db.session.get(Webhook, webhook_id)
        delivery.attempts += 1
        delivery.last_attempt_at = now
        delivery.last_status = status
        delivery.last_response = answer[:RESPONSE_KEPT]
        if ok:
            delivery.status, delivery.delivered_at = DELIVERED, now
            webhook.failures, webhook.retry_at = 0, None
            return
        webhook.failures += 1
        webhook.retry_at = now + backoff(webhook.failures)
        if webhook.failures >= PAUSE_AFTER and webhook.active:
            said = f"HTTP {status}" if status is not None else answer
            webhook.active, webhook.paused_at = False, now
            webhook.pause_reason = (
                f"Paused after {webhook.failures} failed attempts in a row; the last: {said}"
            )[:2000]
            _tell_admins(webhook, now)


def _tell_admins(webhook: Webhook, now: datetime) -> None:
    """A mail to each admin: the webhook is paused, what it is owed waits for them."""
    owed = db.session.scalar(
        select(db.func.count())
        .select_from(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == webhook.id, WebhookDelivery.status == OWED)
    )
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    page = f"{base}/admin/webhooks/{webhook.id}"
    text = (
        f"The webhook to {webhook.url} is paused: {webhook.pause_reason}\n\n"
        f"{owed} deliveries wait for it, and nothing more is sent until you resume it:\n"
        f"{page}\n"
    )
    admins = db.session.scalars(
        select(Person).where(Person.is_admin.is_(True), Person.active.is_(True))
    )
    for admin in admins:
        db.session.add(
            OutboxMessage(
                message_id=make_msgid(domain=mail_domain()),
                to_address=admin.email,
                to_name=one_line(admin.name, 120),
                person_id=admin.id,
                subject=one_line(f"[Handoff] Webhook paused: {webhook.url}", 300),
                body_text=text,
                body_html="".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n")),
                next_attempt_at=now,
                created_at=now,
            )
        )
