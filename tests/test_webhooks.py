"""Webhooks: owed in the event's transaction, delivered signed and in order to a real HTTP
receiver on loopback, retried with back-off while it is down, paused with the admins told
after repeated failure, never dropped, resent with the same id; managed by admins alone."""

import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook as Verifier

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput
from handoff.mail import OutboxMessage
from handoff.webhooks import services as webhooks
from handoff.webhooks.models import DELIVERED, OWED, Webhook, WebhookDelivery

from conftest import fresh, writes


class Receiver:
    """An HTTP server on loopback that checks every body's signature, as a receiver would;
    `answer` is the status it gives (or None: the port refuses connections)."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.ids: list[str] = []
        self.answer = 204
        self.secret = ""
        self.gets = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.answer >= 300:
                    self.send_response(receiver.answer)
                    if receiver.answer < 400:
                        self.send_header("Location", "/elsewhere")
                    self.end_headers()
                    self.wfile.write(b"down for maintenance")
                    return
                headers = {k.lower(): v for k, v in self.headers.items()}
                body = Verifier(receiver.secret).verify(raw, headers)  # raises if not signed
                receiver.ids.append(headers["webhook-id"])
                receiver.bodies.append(body)
                self.send_response(receiver.answer)
                self.end_headers()

            def do_GET(self):  # (a followed redirect would land here, without the body)
                receiver.gets += 1
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.handler = Handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()

    def reopen(self):
        """Listen again at the same address, after close()."""
        port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        self.server = ThreadingHTTPServer(("127.0.0.1", port), self.handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


def register(org, receiver, events=None, now=None) -> Webhook:
    with writes():
        webhook = webhooks.register(
            org.admin, receiver.url, events or list(webhooks.EVENT_TYPES), "CRM", now
        )
    receiver.secret = webhook.secret
    return webhook


def owed(webhook_id: int) -> list[WebhookDelivery]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.webhook_id == webhook_id)
            .order_by(WebhookDelivery.id)
        )
    )


def test_events_are_owed_in_their_transaction_and_delivered_signed_in_order(
    org, make, receiver, now
):
    hook = register(org, receiver, now=now)
    quiet = register(org, receiver, events=["commitment.fulfilled"], now=now)
    receiver.secret = hook.secret  # (the quiet one is sent nothing)
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.accept(fresh(commitment.handoffs[0]), org.ivo, now, "Booked")
    kinds = [d.event_type for d in owed(hook.id)]
    assert kinds == ["commitment.created", "handoff.answered"]
    assert owed(quiet.id) == []  # it hears of fulfilment only

    assert webhooks.deliver_webhooks(now) == 2
    assert [b["type"] for b in receiver.bodies] == ["commitment.created", "handoff.answered"]
    created, answered = receiver.bodies
    assert created["data"]["commitment"]["reference"] == commitment.reference
    assert answered["data"]["action"] == "accept" and answered["data"]["by"]["name"] == "Ivo Berg"
    assert receiver.ids == [d.message_id for d in owed(hook.id)]
    assert all(d.status == DELIVERED and d.last_status == 204 for d in owed(hook.id))
    assert webhooks.deliver_webhooks(now) == 0  # nothing more is sent


def test_what_no_webhook_hears_is_not_made(org, make, receiver, now, monkeypatch):
    """An event nobody listens for costs no payload (its commitment, customer, department
    read for nothing: a query a reminder in a sweep); one somebody hears is made."""
    made = []
    whole = webhooks._commitment
    monkeypatch.setattr(webhooks, "_commitment", lambda c: made.append(c.id) or whole(c))
    register(org, receiver, events=["commitment.fulfilled"], now=now)
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.accept(fresh(commitment.handoffs[0]), org.ivo, now, "Booked")
    assert made == []
    register(org, receiver, events=["handoff.answered"], now=now)
    other = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.accept(fresh(other.handoffs[0]), org.ivo, now, "Booked")
    assert made == [other.id]


def test_a_rolled_back_event_is_owed_to_nobody(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    db.session.rollback()
    with pytest.raises(RuntimeError), writes():
        services.accept(fresh(commitment.handoffs[0]), org.ivo, now, "")
        raise RuntimeError("the request failed after the answer")
    assert [d.event_type for d in owed(hook.id)] == ["commitment.created"]


def test_a_receiver_that_is_down_gets_everything_when_it_is_back(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    for _ in range(3):
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    receiver.answer = 503
    assert webhooks.deliver_webhooks(now) == 0
    first = owed(hook.id)
    assert [d.attempts for d in first] == [1, 0, 0]  # one try, not one per delivery
    assert first[0].last_status == 503 and "maintenance" in first[0].last_response
    hook = fresh(hook)
    # the back-off runs from the failure (the real clock), at least from the round's moment
    assert hook.failures == 1 and hook.retry_at >= now + webhooks.FIRST_WAIT
    first_retry = hook.retry_at
    assert webhooks.deliver_webhooks(first_retry - timedelta(seconds=1)) == 0  # waiting
    assert owed(hook.id)[0].attempts == 1
    assert webhooks.deliver_webhooks(first_retry) == 0  # tried, failed again
    assert owed(hook.id)[0].attempts == 2
    assert fresh(hook).retry_at >= first_retry + 2 * webhooks.FIRST_WAIT  # the wait doubled
    receiver.answer = 200
    assert webhooks.deliver_webhooks(fresh(hook).retry_at) == 3
    assert len(receiver.ids) == 3 == len(set(receiver.ids))
    assert fresh(hook).failures == 0 and fresh(hook).retry_at is None


def test_a_redirect_is_a_failure_not_a_delivery(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    receiver.answer = 301  # (an http → https move, say: a GET there would lose the body)
    assert webhooks.deliver_webhooks(now) == 0
    (delivery,) = owed(hook.id)
    assert delivery.status == OWED and delivery.last_status == 301 and receiver.gets == 0


def test_an_address_no_request_can_go_to_is_refused(org, now):
    for url in ("http://[abc", "http://example.com:99999/x", "ftp://example.com", "hooks"):
        with pytest.raises(InvalidInput):
            webhooks.register(org.admin, url, ["commitment.created"], "", now)
        db.session.rollback()


def test_a_port_that_refuses_is_a_failure_with_its_reason(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    receiver.close()
    assert webhooks.deliver_webhooks(now) == 0
    (delivery,) = owed(hook.id)
    assert delivery.status == OWED and delivery.last_status is None
    assert "Error" in delivery.last_response


def test_after_repeated_failure_it_is_paused_the_admins_told_and_nothing_dropped(
    org, make, receiver, now
):
    hook = register(org, receiver, now=now)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    receiver.answer = 500
    at = now
    for _ in range(webhooks.PAUSE_AFTER):
        webhooks.deliver_webhooks(at)
        at = fresh(hook).retry_at or at
    hook = fresh(hook)
    assert not hook.active and "12 failed attempts" in hook.pause_reason
    mail = db.session.scalars(select(OutboxMessage)).all()
    assert [m.to_address for m in mail] == [org.admin.email]
    assert "Webhook paused" in mail[0].subject and f"/admin/webhooks/{hook.id}" in mail[0].body_text
    make.commitment(by=org.ana, owner=org.sales, route=[org.billing])  # still owed while paused
    receiver.answer = 200
    assert webhooks.deliver_webhooks(at + timedelta(hours=1)) == 0  # paused: nothing sent
    with writes():
        webhooks.resume(org.admin, fresh(hook), at)
    assert webhooks.deliver_webhooks(at + timedelta(hours=1)) == 2
    assert [b["type"] for b in receiver.bodies] == ["commitment.created"] * 2


def test_a_resent_delivery_keeps_its_id(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    webhooks.deliver_webhooks(now)
    (delivery,) = owed(hook.id)
    with writes():
        webhooks.resend(org.admin, fresh(delivery), now)
    webhooks.deliver_webhooks(now)
    assert receiver.ids == [delivery.message_id] * 2
    assert fresh(delivery).attempts == 2


def test_one_nagger_at_a_time_delivers_to_a_webhook(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    assert webhooks._claim(hook.id, now, "nagger:1")
    assert not webhooks._claim(hook.id, now, "nagger:2")  # held until its deadline
    assert webhooks.deliver_webhooks(now, who="nagger:2") == 0
    later = fresh(hook).claimed_until
    assert later >= now + timedelta(seconds=webhooks.TURN_SECONDS * 2)
    assert webhooks.deliver_webhooks(later, who="nagger:2") == 1  # a stalled claim runs out


def test_a_step_a_standing_promise_accepts_is_told_after_the_commitment(org, make, receiver, now):
    from handoff.promises import services as promise_services

    hook = register(org, receiver, now=now)
    with writes():
        promise = promise_services.save_promise(
            org.installation,
            org.ben,
            now,
            promise=None,
            name="Standard install",
            covers="One router",
            lead_minutes=60,
            max_amount=None,
            max_quantity=None,
        )
    with writes():
        services.record_commitment(
            actor=org.ana,
            customer=make.customer(),
            title="Router",
            details="",
            channel="phone",
            promised_at=now + timedelta(days=30),
            owner_department=org.sales,
            route=[
                services.RouteStep(
                    org.installation, "Install", now + timedelta(days=29), standing_promise=promise
                )
            ],
            now=now,
        )
    kinds = [d.event_type for d in owed(hook.id)]
    assert kinds == ["commitment.created", "handoff.accepted_by_standing_promise"]
    webhooks.deliver_webhooks(now)
    created = receiver.bodies[0]["data"]
    assert created["handoffs"][0]["state"] == "accepted"


def test_a_late_handoff_and_fulfilment_are_told(org, make, receiver, now):
    hook = register(org, receiver, now=now)
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.accept(fresh(commitment.handoffs[0]), org.ivo, now, "")
    with writes():
        services.note_late_handoffs(now + timedelta(days=30))
    with writes():
        services.complete(fresh(commitment.handoffs[0]), org.ivo, now + timedelta(days=31))
    kinds = [d.event_type for d in owed(hook.id)]
    assert "handoff.late" in kinds and kinds[-1] == "commitment.fulfilled"
    webhooks.deliver_webhooks(now)
    assert [b["type"] for b in receiver.bodies] == kinds


def test_only_admins_manage_webhooks_on_their_pages(org, client, sign_in, receiver):
    sign_in(client, org.ana)
    assert client.get("/admin/webhooks/").status_code == 403
    sign_in(client, org.admin)
    refused = client.post("/admin/webhooks/", data={"url": receiver.url, "events": []})
    assert refused.status_code == 422
    assert "Choose at least one event" in refused.get_data(as_text=True)
    ftp = client.post("/admin/webhooks/", data={"url": "ftp://x", "events": ["commitment.created"]})
    assert ftp.status_code == 422 and "starts with https://" in ftp.get_data(as_text=True)
    made = client.post(
        "/admin/webhooks/",
        data={"url": receiver.url, "description": "CRM", "events": ["commitment.created"]},
    )
    assert made.status_code == 303
    db.session.rollback()
    hook = db.session.scalars(select(Webhook)).one()
    shown = client.get(made.headers["Location"]).get_data(as_text=True)
    assert hook.secret in shown and "Nothing delivered yet" in shown
    assert client.post(f"/admin/webhooks/{hook.id}/pause").status_code == 303
    assert fresh(hook).active is False
    assert client.post(f"/admin/webhooks/{hook.id}/resume").status_code == 303
    assert client.post(f"/admin/webhooks/{hook.id}/deliveries/999999/resend").status_code == 404
    assert client.post(f"/admin/webhooks/{hook.id}/remove").status_code == 303
    assert client.get(f"/admin/webhooks/{hook.id}").status_code == 404
