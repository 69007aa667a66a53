"""Mail over a real SMTP server on loopback (aiosmtpd): both parts, threading, retries,
and one bad message never stopping the others."""

import email
import re
import smtplib
import socket
from datetime import timedelta
from email import policy as email_policy
from email.utils import make_msgid

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select

from handoff import mail
from handoff.config import Config
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.mail import (
    FAILED,
    PENDING,
    SENDING,
    SENT,
    WITHDRAWN,
    OutboxMessage,
    dispatch,
    one_line,
)
from handoff.nagging.sweep import sweep

from conftest import fresh, writes
from nagging_helpers import berlin, messages, nags, set_policy

DUE = berlin(2026, 5, 11, 11, 0)


class Inbox:
    """An SMTP handler that keeps what it receives; it answers `refuse[address]` to RCPT TO."""

    def __init__(self):
        self.received = []
        self.refuse: dict[str, str] = {}
        self.hang_up_on = ""  # a subject whose DATA is answered 421 (closing)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.hang_up_on and self.hang_up_on.encode() in envelope.content:
            return "421 4.3.0 closing, try again later"
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
        dispatch(DUE)
        sweep(berlin(2026, 5, 11, 15, 0))  # reminder 2 repeats reminder 1: it waits
        sweep(berlin(2026, 5, 12, 8, 0))  # for the morning
        dispatch(berlin(2026, 5, 12, 8, 0))
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


def test_an_abandoned_claim_is_sent_once_by_the_next_round_and_a_live_one_is_left_alone(
    mail_app, smtp_server
):
    abandoned = plant(status=SENDING, claimed_until=DUE - timedelta(seconds=1), attempts=1)
    live = plant(status=SENDING, claimed_until=DUE + timedelta(seconds=60), attempts=1)
    with mail_app.app_context():
        assert dispatch(DUE).sent == 1
        assert dispatch(DUE + timedelta(seconds=59)).sent == 0  # the live claim still holds
        assert dispatch(DUE + timedelta(seconds=60)).sent == 1
        assert dispatch(DUE + timedelta(minutes=30)).sent == 0
    assert subjects(smtp_server) == [abandoned.subject, live.subject]
    assert (fresh(abandoned).status, fresh(live).status) == (SENT, SENT)


def test_a_dispatcher_that_stood_still_after_its_check_sends_nothing_and_the_claim_decides(
    mail_app, smtp_server, monkeypatch
):
    message = plant()
    clock = {"offset": 0.0}
    real = mail.time.monotonic
    monkeypatch.setattr(mail.time, "monotonic", lambda: real() + clock["offset"])

    def vet(message, now):
        clock["offset"] += 45  # stopped (SIGSTOP) for 45 s right after the last check
        return None

    with mail_app.app_context():
        report = dispatch(DUE, vet=vet)
        assert (report.sent, report.stalled) == (0, 1)
        assert subjects(smtp_server) == []
        assert fresh(message).status == SENDING  # still claimed: nobody else sends it yet
        until = fresh(message).claimed_until
        assert dispatch(DUE + timedelta(seconds=30)).sent == 0
        clock["offset"] = 0
        assert dispatch(until).sent == 1  # the claim ran out: sent once, by whoever is next
    assert subjects(smtp_server) == [message.subject]


def test_a_dispatcher_killed_mid_send_delays_only_that_message_and_by_the_claim_deadline(
    mail_app, smtp_server, monkeypatch
):
    first, second, third = plant(), plant(), plant()
    real_send = smtplib.SMTP.send_message

    def killed(self, *args, **kwargs):
        monkeypatch.setattr(smtplib.SMTP, "send_message", real_send)
        raise SystemExit("killed")  # the process dies; nothing of dispatch runs after this

    monkeypatch.setattr(smtplib.SMTP, "send_message", killed)
    with mail_app.app_context(), pytest.raises(SystemExit):
        dispatch(DUE)
    assert [m.status for m in messages()] == [SENDING, PENDING, PENDING]
    with mail_app.app_context():
        assert dispatch(DUE + timedelta(seconds=1)).sent == 2  # the others are not stranded
        assert dispatch(DUE + timedelta(seconds=59)).sent == 0
        # The deadline counts from the claim: 60 s, plus the moments the round took to get there.
        assert dispatch(DUE + timedelta(seconds=62)).sent == 1  # sent once more, no more
        assert dispatch(DUE + timedelta(hours=1)).sent == 0
    assert subjects(smtp_server) == [second.subject, third.subject, first.subject]


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
    assert frame.headers["X-Frame-Options"] == "SAMEORIGIN"  # framed by the outbox alone
    assert reminded.reference in frame.get_data(as_text=True)


# One bad message never stops the mail.


def plant(**fields) -> OutboxMessage:
    """An outbox message due at DUE, written straight into the table."""
    number = db.session.scalar(select(func.count()).select_from(OutboxMessage)) + 1
    values = {
        "message_id": make_msgid(domain="acme.example"),
        "to_address": f"person{number}@example.com",
        "to_name": f"Person {number}",
        "subject": f"[Handoff] message {number}",
        "body_text": f"Message {number}",
        "body_html": f"<html><head></head><body><p>Message {number}</p></body></html>",
        "next_attempt_at": DUE,
        "created_at": DUE - timedelta(minutes=1),
    }
    values.update(fields)
    message = OutboxMessage(**values)
    db.session.add(message)
    db.session.commit()
    return message


def subjects(inbox: Inbox) -> list[str]:
    return [message["Subject"] for _, message in inbox.received]


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("C-1001 Müller\r\nGmbH: install", "C-1001 Müller GmbH: install"),
        ("a\nBcc: evil@example.com", "a Bcc: evil@example.com"),
        ("tab\there,\x00nul \x1b esc", "tab here, nul esc"),
        ("line\u2028para\u2029next\x85line", "line para next line"),
        ("  \t spaced \n\n  out  ", "spaced out"),
        ("\r\n\t", ""),
    ],
)
def test_one_line_turns_every_break_and_control_run_into_one_space(text, line):
    assert one_line(text, 300) == line


def test_one_line_cuts_long_text_with_an_ellipsis_within_the_limit():
    assert one_line("Installation within 24 hours", 12) == "Installatio…"
    assert len(one_line("x" * 500, 300)) == 300
    assert one_line("exactly ten", 11) == "exactly ten"


def test_a_subject_and_a_name_with_line_breaks_arrive_once_on_one_line(mail_app, smtp_server):
    message = plant(
        subject="[Handoff] C-1001 Müller\r\nGmbH: Install\u2028Bcc: evil@example.com",
        to_name="Ivo\nBerg\r\nBcc: evil@example.com",
        to_address="ivo@example.com",
    )
    with mail_app.app_context():
        report = dispatch(DUE)
    assert (report.sent, report.failed) == (1, 0)
    [(recipients, received)] = smtp_server.received
    assert recipients == ["ivo@example.com"]
    assert received["Subject"] == "[Handoff] C-1001 Müller GmbH: Install Bcc: evil@example.com"
    assert received["To"].addresses[0].display_name == "Ivo Berg Bcc: evil@example.com"
    assert received["To"].addresses[0].addr_spec == "ivo@example.com"
    assert received["Bcc"] is None
    assert fresh(message).status == SENT


def test_a_commitment_whose_title_and_customer_hold_line_breaks_is_mailed_on_one_line(
    org, make, mail_app, smtp_server
):
    set_policy()
    customer = make.customer("Müller\r\nGmbH")
    c = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        customer=customer,
        title="Install\nthe router",
        at=berlin(2026, 5, 11, 9, 0),
    )
    with mail_app.app_context():
        sweep(DUE)
        report = dispatch(DUE)
    assert (report.sent, report.failed) == (1, 0)
    assert subjects(smtp_server) == [f"[Handoff] {c.reference} Müller GmbH: Install the router"]


@pytest.mark.parametrize("breaks", ["a second address in the row", "as_email raising"])
def test_a_message_that_cannot_be_built_fails_with_its_reason_and_the_rest_go_out_once(
    mail_app, smtp_server, monkeypatch, breaks
):
    before, bad, after = plant(), plant(), plant()
    if breaks == "a second address in the row":
        bad.to_address = "ivo@example.com\nBcc: evil@example.com"
        db.session.commit()
        reason = "is not a mail address"
    else:
        real, bad_id = mail.as_email, bad.id  # read now: the dispatcher holds the write lock

        def as_email(message):
            if message.id == bad_id:
                raise RuntimeError("template blew up")
            return real(message)

        monkeypatch.setattr(mail, "as_email", as_email)
        reason = "template blew up"
    with mail_app.app_context():
        report = dispatch(DUE)
        assert dispatch(DUE + timedelta(hours=2)).sent == 0  # a failed message stays failed
    assert (report.sent, report.failed, report.gave_up) == (2, 1, 1)
    assert subjects(smtp_server) == [before.subject, after.subject]
    failed = fresh(bad)
    assert (failed.status, failed.failed_at, failed.claimed_until) == (FAILED, DUE, None)
    assert "cannot be built" in failed.last_error and reason in failed.last_error


def test_a_recipient_refused_for_good_fails_at_once_and_the_others_go_out(mail_app, smtp_server):
    refused = plant(to_address="gone@example.com")
    other = plant()
    smtp_server.refuse["gone@example.com"] = "550 5.1.1 no such mailbox"
    with mail_app.app_context():
        report = dispatch(DUE)
    assert (report.sent, report.gave_up, report.retrying) == (1, 1, 0)
    assert subjects(smtp_server) == [other.subject]
    failed = fresh(refused)
    assert (failed.status, failed.attempts, failed.failed_at) == (FAILED, 1, DUE)
    assert "550" in failed.last_error and "no such mailbox" in failed.last_error


def test_a_recipient_refused_for_now_waits_and_goes_out_later(mail_app, smtp_server):
    busy = plant(to_address="busy@example.com")
    smtp_server.refuse["busy@example.com"] = "451 4.2.1 mailbox busy, try later"
    with mail_app.app_context():
        report = dispatch(DUE)
        assert (report.sent, report.retrying) == (0, 1)
        waiting = fresh(busy)
        assert (waiting.status, waiting.next_attempt_at) == (PENDING, DUE + timedelta(minutes=1))
        assert "451" in waiting.last_error
        del smtp_server.refuse["busy@example.com"]
        assert dispatch(DUE + timedelta(minutes=1)).sent == 1
    assert fresh(busy).status == SENT


def test_a_connection_dropped_mid_round_backs_off_that_message_and_the_next_reconnects(
    mail_app, smtp_server
):
    dropped, after = plant(subject="[Handoff] dropped"), plant()
    smtp_server.hang_up_on = "[Handoff] dropped"
    with mail_app.app_context():
        report = dispatch(DUE)
    assert (report.sent, report.retrying) == (1, 1)
    assert subjects(smtp_server) == [after.subject]
    waiting = fresh(dropped)
    assert (waiting.status, waiting.next_attempt_at) == (PENDING, DUE + timedelta(minutes=1))
    assert "421" in waiting.last_error


def test_with_the_server_down_the_round_ends_quietly_and_leaves_the_others_untouched(mail_app):
    claimed, untouched = plant(), plant()
    with mail_app.app_context():
        report = dispatch(DUE)  # nothing listens on the port: it must not raise
    assert (report.sent, report.retrying) == (0, 1)
    waiting = fresh(claimed)
    assert (waiting.status, waiting.attempts) == (PENDING, 1)
    assert waiting.next_attempt_at == DUE + timedelta(minutes=1)
    assert "cannot reach the mail server" in waiting.last_error
    left = fresh(untouched)
    assert (left.status, left.attempts, left.next_attempt_at, left.last_error) == (
        PENDING,
        0,
        DUE,
        "",
    )


def test_with_the_server_down_a_message_fails_after_the_last_attempt(mail_app):
    message = plant()
    now, rounds = DUE, 0
    with mail_app.app_context():
        while fresh(message).status == PENDING and rounds < 20:
            dispatch(now)
            rounds += 1
            now = fresh(message).next_attempt_at
    assert rounds == mail_app.config["MAIL_MAX_ATTEMPTS"] == 8
    failed = fresh(message)
    waits = [timedelta(minutes=m) for m in (1, 2, 5, 10, 30, 60, 60)]
    assert failed.failed_at == DUE + sum(waits, timedelta())
    assert failed.status == FAILED and failed.attempts == 8
    assert "gave up after 8 attempts" in failed.last_error
    assert "cannot reach the mail server" in failed.last_error


def test_a_round_holds_one_message_at_a_time_with_a_short_deadline(mail_app, smtp_server):
    plant(), plant(), plant()
    seen = []

    def vet(message, now):
        sending = db.session.scalars(
            select(OutboxMessage.claimed_until).where(OutboxMessage.status == SENDING)
        ).all()
        seen.append(sending)
        return None

    with mail_app.app_context():
        assert dispatch(DUE, vet=vet).sent == 3
    assert [len(claims) for claims in seen] == [1, 1, 1]
    for [until] in seen:
        assert DUE + timedelta(seconds=60) <= until < DUE + timedelta(seconds=70)


def test_a_message_vetted_out_is_withdrawn_and_nothing_of_it_reaches_the_server(
    mail_app, smtp_server
):
    stale, fine = plant(subject="[Handoff] answered meanwhile"), plant()
    later = plant(next_attempt_at=DUE + timedelta(hours=1))
    stale_id, fine_id, later_id = stale.id, fine.id, later.id  # read before the round
    asked = []

    def vet(message, now):
        asked.append((message.id, now))
        if message.id != stale_id:
            return None
        # What vet changes in its transaction is kept with the withdrawal.
        db.session.get(OutboxMessage, later_id).body_text = "released by vet"
        return "the handoff was accepted before the reminder left"

    with mail_app.app_context():
        report = dispatch(DUE, vet=vet)
    assert (report.sent, report.withdrawn) == (1, 1)
    assert [message_id for message_id, _ in asked] == [stale_id, fine_id]
    # vet judges as of the moment the message is about to leave: the round's now, plus the
    # time the round has taken so far
    assert all(DUE <= moment < DUE + timedelta(minutes=1) for _, moment in asked)
    assert subjects(smtp_server) == [fine.subject]
    withdrawn = fresh(stale)
    assert (withdrawn.status, withdrawn.claimed_until, withdrawn.sent_at) == (WITHDRAWN, None, None)
    assert withdrawn.last_error == "the handoff was accepted before the reminder left"
    assert fresh(later).body_text == "released by vet"
    with mail_app.app_context():
        assert dispatch(DUE + timedelta(hours=2)).sent == 1  # only `later`; never the withdrawn


def test_a_vet_that_raises_fails_its_message_and_the_round_goes_on(mail_app, smtp_server):
    broken, fine = plant(), plant()
    broken_id = broken.id  # read before the round

    def vet(message, now):
        if message.id == broken_id:
            raise LookupError("reminder 7 vanished")
        return None

    with mail_app.app_context():
        report = dispatch(DUE, vet=vet)
    assert (report.sent, report.gave_up) == (1, 1)
    assert subjects(smtp_server) == [fine.subject]
    failed = fresh(broken)
    assert failed.status == FAILED and "reminder 7 vanished" in failed.last_error


def test_a_sent_message_is_stamped_with_the_rounds_now(mail_app, smtp_server):
    message = plant()
    with mail_app.app_context():
        dispatch(DUE + timedelta(minutes=3))
    assert fresh(message).sent_at == DUE + timedelta(minutes=3)


def test_the_claim_must_outlast_the_smtp_timeout(monkeypatch):
    config = Config()
    assert (config.MAIL_CLAIM_SECONDS, config.SMTP_TIMEOUT, config.MAIL_MAX_ATTEMPTS) == (60, 20, 8)
    monkeypatch.setenv("HANDOFF_MAIL_CLAIM_SECONDS", "20")
    with pytest.raises(ValueError, match="larger than HANDOFF_SMTP_TIMEOUT"):
        Config()


# The outbox page: failures with their reason, and a retry.


@pytest.fixture
def failed(app):
    return plant(
        status=FAILED,
        attempts=8,
        failed_at=DUE,
        last_error="refused by the mail server: gone@example.com refused: 550 no such mailbox",
    )


def test_the_outbox_counts_every_status_and_shows_a_failure_with_its_reason(
    client, org, sign_in, failed
):
    plant(status=SENT, sent_at=DUE)
    plant(status=WITHDRAWN, last_error="answered before it left")
    sign_in(client, org.admin)
    page = client.get("/admin/outbox").get_data(as_text=True)
    words = " ".join(re.sub(r"<[^>]+>", "", page).split())
    assert "0 waiting · 0 sending · 1 sent · 1 failed · 1 withdrawn" in words
    assert "550 no such mailbox" in page and "answered before it left" in page
    assert page.count(">Retry</button>") == 1
    assert f'action="/admin/outbox/{failed.id}/retry"' in page
    assert 'href="/admin/outbox?status=failed"' in page
    detail = client.get(f"/admin/outbox/{failed.id}").get_data(as_text=True)
    assert "550 no such mailbox" in detail and ">Retry</button>" in detail


def test_the_outbox_can_show_only_failed_messages(client, org, sign_in, failed):
    sent = plant(status=SENT, sent_at=DUE, subject="[Handoff] went out fine")
    sign_in(client, org.admin)
    page = client.get("/admin/outbox?status=failed").get_data(as_text=True)
    assert failed.subject in page and sent.subject not in page
    assert "Showing failed messages only" in page
    assert sent.subject in client.get("/admin/outbox").get_data(as_text=True)


def test_retry_puts_a_failed_message_back_and_the_next_round_sends_it(
    client, org, sign_in, failed, mail_app, smtp_server
):
    sign_in(client, org.admin)
    response = client.post(f"/admin/outbox/{failed.id}/retry", data={"back": "failed"})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/outbox?status=failed"
    again = fresh(failed)
    assert (again.status, again.attempts, again.failed_at) == (PENDING, 0, None)
    assert utcnow() - timedelta(minutes=1) < again.next_attempt_at <= utcnow()
    assert "goes out again" in client.get("/admin/outbox").get_data(as_text=True)
    with mail_app.app_context():
        assert dispatch(utcnow()).sent == 1
    assert subjects(smtp_server) == [failed.subject]


def test_only_admins_retry_and_only_failed_messages(client, org, sign_in, failed):
    sent = plant(status=SENT, sent_at=DUE)
    sign_in(client, org.ivo)
    assert client.post(f"/admin/outbox/{failed.id}/retry").status_code == 403
    sign_in(client, org.admin)
    assert client.post("/admin/outbox/999999/retry").status_code == 404
    refused = client.post(f"/admin/outbox/{sent.id}/retry")
    assert refused.status_code == 409
    assert "This message is sent; only a failed message is retried." in refused.get_data(
        as_text=True
    )
    assert fresh(failed).status == FAILED and fresh(sent).status == SENT


def test_retry_needs_the_csrf_token(app_factory, org, sign_in, failed):
    client = app_factory(WTF_CSRF_ENABLED=True).test_client()
    sign_in(client, org.admin)
    assert client.post(f"/admin/outbox/{failed.id}/retry").status_code == 400
    assert fresh(failed).status == FAILED
    page = client.get(f"/admin/outbox/{failed.id}").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    response = client.post(f"/admin/outbox/{failed.id}/retry", data={"csrf_token": token})
    assert response.status_code == 303
    assert fresh(failed).status == PENDING


def test_a_digest_answered_while_the_server_was_down_is_withdrawn_not_sent(
    mail_app, smtp_server, reminded, org
):
    from handoff.commitments import services
    from handoff.nagging.mailing import vet_message

    services.accept(fresh(reminded.handoffs[0]), org.ivo, DUE + timedelta(minutes=5))
    db.session.commit()
    with mail_app.app_context():
        report = dispatch(DUE + timedelta(minutes=10), vet=vet_message)
    assert (report.sent, report.withdrawn) == (0, 1)
    assert smtp_server.received == []
    [withdrawn] = messages()
    assert withdrawn.status == WITHDRAWN and "no longer true" in withdrawn.last_error
    assert [n.drop_reason for n in nags()] == ["it is accepted now"]


def test_a_digest_that_would_arrive_after_closing_waits_for_the_morning(
    mail_app, smtp_server, reminded, org
):
    from handoff.nagging.mailing import vet_message

    evening = berlin(2026, 5, 11, 17, 30)  # the server was down from 11:00 until now
    with mail_app.app_context():
        assert dispatch(evening, vet=vet_message).withdrawn == 1
        sweep(berlin(2026, 5, 12, 8, 0))
        dispatch(berlin(2026, 5, 12, 8, 0), vet=vet_message)
    [(recipients, message)] = smtp_server.received
    assert recipients == [org.ivo.email] and reminded.reference in message["Subject"]


def test_after_an_outage_the_waiting_digests_leave_as_one(mail_app, smtp_server, org, make):
    from handoff.nagging.mailing import vet_message

    set_policy()
    for hour in (9, 10, 11):  # three new handoffs for Ivo, one digest each, none sent
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, hour, 0)
        )
    with mail_app.app_context():
        for hour in (11, 12, 13):
            sweep(berlin(2026, 5, 11, hour, 0))  # the mail server is down meanwhile
        dispatch(berlin(2026, 5, 11, 13, 5), vet=vet_message)  # it is back
    assert len(smtp_server.received) == 1
    [(_, digest)] = smtp_server.received
    assert "3 handoffs for you" in digest["Subject"]
    assert [m.status for m in messages(org.ivo.email)] == [WITHDRAWN, WITHDRAWN, SENT]


def test_mail_to_the_address_that_is_no_digest_is_never_folded_into_one(
    mail_app, smtp_server, org, make
):
    """A weekly report, the answer to a reply, a webhook's pause: waiting in the outbox when
    a newer digest is written, each still leaves, beside it."""
    from handoff.nagging.mailing import vet_message

    set_policy()
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 9, 0)
    )
    with mail_app.app_context():
        sweep(berlin(2026, 5, 11, 11, 0))  # a digest for Ivo, not sent: the server is down
    db.session.rollback()
    with writes():
        db.session.add(
            OutboxMessage(
                message_id="<answer-1@example.com>",
                to_address=org.ivo.email,
                subject="Re: your reply",
                body_text="Done: C-1001 accepted.",
                body_html="<p>Done: C-1001 accepted.</p>",
                next_attempt_at=berlin(2026, 5, 11, 11, 30),
                created_at=berlin(2026, 5, 11, 11, 30),
            )
        )
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 11, 0)
    )
    with mail_app.app_context():
        sweep(berlin(2026, 5, 11, 13, 0))  # a newer digest folds the first one in
        dispatch(berlin(2026, 5, 11, 13, 5), vet=vet_message)
    subjects = sorted(str(message["Subject"]) for _, message in smtp_server.received)
    assert "Re: your reply" in subjects and len(subjects) == 2
    assert [m.status for m in messages(org.ivo.email)] == [WITHDRAWN, SENT, SENT]


# The outbox page at any size: a page at a time, found by recipient or commitment; old
# words pruned.


def test_the_outbox_pages_newest_first_and_finds_by_recipient_or_commitment(
    client, org, sign_in, reminded
):
    for index in range(23):
        plant(status=SENT, sent_at=DUE, to_address=f"zed{index:02}@example.com")
    sign_in(client, org.admin)
    first = client.get("/admin/outbox?per=10").get_data(as_text=True)
    subjects_on = lambda page: re.findall(r"\[Handoff\] message \d+", page)  # noqa: E731
    assert len(subjects_on(first)) == 10 and 'rel="next"' in first
    older = re.search(r'href="([^"]+)" rel="next"', first).group(1).replace("&amp;", "&")
    second = client.get(older).get_data(as_text=True)
    assert not set(subjects_on(first)) & set(subjects_on(second))
    found = client.get("/admin/outbox?q=zed0").get_data(as_text=True)
    assert len(re.findall(r"<small>zed\d+@example.com</small>", found)) == 10  # zed00 … zed09
    about = client.get(f"/admin/outbox?q={reminded.reference}").get_data(as_text=True)
    reminder = next(m for m in messages() if not m.to_address.startswith("zed"))
    assert reminder.subject in about and "zed" not in about
    assert "No message found" in client.get("/admin/outbox?q=C-99999").get_data(as_text=True)


def test_the_outbox_counts_what_a_search_found_and_names_each_state_one_way(client, org, sign_in):
    for index in range(12):
        plant(status=SENT, sent_at=DUE, to_address=f"zed{index:02}@example.com")
    for index in range(3):
        plant(status=PENDING, to_address=f"amy{index}@example.com")
    sign_in(client, org.admin)
    found = client.get("/admin/outbox?q=zed&per=10").get_data(as_text=True)
    assert "Found for “zed”" in found
    assert ">0 waiting</a>" in found and ">12 sent</a>" in found  # not the 3 waiting for amy
    # a state's link keeps the search and the page size
    sent = re.search(r'href="([^"]+)">12 sent</a>', found).group(1).replace("&amp;", "&")
    assert "q=zed" in sent and "per=10" in sent and "status=sent" in sent
    page = client.get(sent).get_data(as_text=True)
    assert len(re.findall(r"<small>zed\d+@example.com</small>", page)) == 10
    # each message's state is named as the counts name it
    every = client.get("/admin/outbox").get_data(as_text=True)
    assert ">3 waiting</a>" in every and ">waiting</span>" in every and ">pending<" not in every
    # a state that is not one is said to be none, and everything is shown
    bogus = client.get("/admin/outbox?status=bogus<b>").get_data(as_text=True)
    assert "There is no state “bogus&lt;b&gt;”" in bogus
    assert len(re.findall(r"<small>(zed|amy)\d+@example.com</small>", bogus)) == 15


def test_an_outbox_page_of_10_and_of_50_run_the_same_number_of_queries(
    client, org, sign_in, reminded, count_queries
):
    for index in range(60):
        plant(status=SENT, sent_at=DUE, to_address=f"zed{index:02}@example.com")
    sign_in(client, org.admin)

    def queries(url: str) -> int:
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    for search in ("", "&q=zed", f"&q={reminded.reference}", "&status=sent"):
        assert queries(f"/admin/outbox?per=10{search}") == queries(
            f"/admin/outbox?per=50{search}"
        ), search


def test_the_words_of_old_mail_are_pruned_and_its_facts_kept(app, client, org, sign_in):
    old = plant(status=SENT, sent_at=DUE, created_at=DUE - timedelta(days=40))
    recent = plant(status=SENT, sent_at=DUE, created_at=DUE - timedelta(days=2))
    waiting = plant(status=PENDING, created_at=DUE - timedelta(days=40))
    assert mail.prune_old_bodies(DUE, timedelta(days=30)) == 1
    assert mail.prune_old_bodies(DUE, timedelta(days=30)) == 0  # nothing twice
    assert fresh(old).body_html == "" and fresh(old).subject and fresh(old).to_address
    assert fresh(recent).body_html and fresh(waiting).body_html  # unsent mail keeps its words
    sign_in(client, org.admin)
    page = client.get(f"/admin/outbox/{old.id}").get_data(as_text=True)
    assert "words of this message were removed" in page and "mail-preview" not in page
