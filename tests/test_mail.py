"""Mail over a real SMTP server on loopback (aiosmtpd): both parts, threading, retries."""

import email
import socket
from datetime import timedelta
from email import policy as email_policy

import pytest
from aiosmtpd.controller import Controller

from handoff.mail import SENDING, SENT, dispatch
from handoff.nagging.sweep import sweep

from conftest import fresh
from nagging_helpers import berlin, messages, set_policy

DUE = berlin(2026, 5, 11, 11, 0)


class Inbox:
    """An SMTP handler that keeps what it receives."""

    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            (
                envelope.rcpt_tos,
                email.message_from_bytes(envelope.content, policy=email_policy.default),
            )
        )
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def smtp_port():
    return free_port()


@pytest.fixture
def smtp_server(smtp_port):
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield inbox
    controller.stop()


@pytest.fixture
def mail_app(app_factory, smtp_port, org):
    """The app as the nagger runs it: with an SMTP server configured."""
    application = app_factory(
        SMTP_HOST="127.0.0.1",
        SMTP_PORT=smtp_port,
        MAIL_FROM="handoff@acme.example",
        PUBLIC_BASE_URL="https://handoff.acme.example",
    )
    return application


@pytest.fixture
def reminded(org, make, mail_app):
    """Installation was reminded at 11:00 by the nagger (configured with SMTP)."""
    set_policy()
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 9, 0)
    )
    with mail_app.app_context():
        sweep(DUE)
    return c


def test_the_digest_arrives_with_both_parts_and_threading_headers(
    mail_app, smtp_server, reminded, org
):
    with mail_app.app_context():
        report = dispatch(DUE)
    assert (report.sent, report.failed) == (1, 0)
    [(recipients, message)] = smtp_server.received
    assert recipients == [org.ivo.email]
    assert message["Subject"] == (
        f"[Handoff] {reminded.reference} {reminded.customer.name}: {reminded.title}"
    )
    thread = f"<commitment-{reminded.reference}@acme.example>"
    assert message["In-Reply-To"] == thread and message["References"] == thread
    assert message["Message-ID"].endswith("@acme.example>")
    assert message["From"] == "Handoff <handoff@acme.example>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert reminded.reference in text and reminded.reference in html
    assert "https://handoff.acme.example/act/" in text and "do=accept" in text
    assert 'href="https://handoff.acme.example/act/' in html
    assert fresh(messages()[0]).status == SENT


def test_reminders_of_one_commitment_share_subject_and_thread(mail_app, smtp_server, reminded):
    with mail_app.app_context():
        sweep(berlin(2026, 5, 11, 15, 0))
        dispatch(berlin(2026, 5, 11, 15, 0))
    first, second = (message for _, message in smtp_server.received)
    assert first["Subject"] == second["Subject"]
    assert first["References"] == second["References"]
    assert first["Message-ID"] != second["Message-ID"]


def test_with_the_smtp_server_down_nothing_is_lost_and_it_goes_out_once_back(
    mail_app, smtp_port, reminded
):
    with mail_app.app_context():
        down = dispatch(DUE)
    assert (down.sent, down.failed) == (0, 1)
    [waiting] = messages()
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_attempt_at == DUE + timedelta(minutes=1)
    assert "cannot reach the mail server" in waiting.last_error
    message_id = waiting.message_id

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        with mail_app.app_context():
            assert dispatch(DUE + timedelta(seconds=30)).sent == 0  # still backing off
            assert dispatch(DUE + timedelta(minutes=1)).sent == 1
            assert dispatch(DUE + timedelta(minutes=10)).sent == 0  # never twice
    finally:
        controller.stop()
    [(_, delivered)] = inbox.received
    assert delivered["Message-ID"] == message_id  # the same message, retried
    assert fresh(waiting).status == SENT


def test_a_sender_that_died_mid_send_causes_at_most_one_resend(mail_app, smtp_server, reminded):
    [message] = messages()
    from handoff.extensions import db

    message.status = SENDING  # claimed by a process that then died
    message.claimed_until = DUE + timedelta(minutes=5)
    db.session.commit()
    with mail_app.app_context():
        assert dispatch(DUE + timedelta(minutes=4)).sent == 0  # its claim still holds
        assert dispatch(DUE + timedelta(minutes=5)).sent == 1
        assert dispatch(DUE + timedelta(minutes=30)).sent == 0
    assert len(smtp_server.received) == 1


def test_without_an_smtp_host_mail_stays_in_the_outbox(app, reminded):
    assert dispatch(DUE).sent == 0  # the test app has no SMTP host
    assert [m.status for m in messages()] == ["pending"]


def test_admins_read_the_outbox_as_recipients_would_see_it(client, org, sign_in, reminded):
    sign_in(client, org.ivo)
    assert client.get("/admin/outbox").status_code == 403
    sign_in(client, org.admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    assert reminded.reference in page and org.ivo.email in page
    [message] = messages()
    detail = client.get(f"/admin/outbox/{message.id}").get_data(as_text=True)
    assert "Accept" in detail and "/act/" in detail
    frame = client.get(f"/admin/outbox/{message.id}/html")
    assert "script-src" not in frame.headers["Content-Security-Policy"]
    assert "default-src 'none'" in frame.headers["Content-Security-Policy"]
    assert reminded.reference in frame.get_data(as_text=True)
