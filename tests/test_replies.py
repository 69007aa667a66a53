"""Answering a reminder by replying to it, through a real SMTP client talking to the reply
listener on loopback: the first line acts as the reminder's recipient, through the verbs;
anything else (a forged sender, an unknown word, an answer too late, an old reminder)
changes nothing, and the person hears why unless the sender is not who the mail went to."""

import smtplib
from datetime import timedelta
from email.message import EmailMessage
from email.utils import make_msgid
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent
from handoff.mail import as_email
from handoff.nagging.mail_in import listener
from handoff.nagging.replies import (
    REFUSED,
    TAKEN,
    InboundReply,
    first_line,
    read_line,
    take_reply,
)
from handoff.nagging.sweep import sweep

from conftest import fresh, writes
from nagging_helpers import messages, set_policy
from test_faults import free_port


@pytest.fixture
def reminded(org, make, now):
    """Installation was asked three hours ago and has not answered: Ivo got a reminder."""
    set_policy(always_open=True, ack_window_minutes=5)
    commitment = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(hours=3)
    )
    with writes():
        sweep(now)
    (mail,) = messages(org.ivo.email)
    return commitment, mail


@pytest.fixture
def smtp_port(web_app):
    port = free_port()
    server = listener(web_app, "127.0.0.1", port)
    server.start()
    yield port
    server.stop()


def reply(port, mail, text, sender=None, message_id=None, to=None, envelope=None, headers=()):
    message = EmailMessage()
    message["From"] = sender or mail.to_address
    message["To"] = to or mail.reply_to
    message["Subject"] = "Re: " + mail.subject
    message["Message-ID"] = message_id or make_msgid(domain="phone.example")
    message["In-Reply-To"] = mail.message_id
    for name, value in headers:
        message[name] = value
    message.set_content(f"{text}\n\nOn Mon, 7 Dec 2026, Handoff wrote:\n> accept, decline …\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message, from_addr=envelope)
    return message


def kinds(commitment) -> list[str]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(TimelineEvent.kind)
            .where(TimelineEvent.commitment_id == commitment.id)
            .order_by(TimelineEvent.id)
        )
    )


def noted() -> list[InboundReply]:
    db.session.rollback()
    return list(db.session.scalars(select(InboundReply).order_by(InboundReply.id)))


def test_a_reminder_says_where_to_reply(reminded):
    commitment, mail = reminded
    assert mail.reply_to.startswith(f"reply+{mail.id}.") and mail.reply_to.endswith("@example.com")
    assert as_email(mail)["Reply-To"] == mail.reply_to
    lead = commitment.handoffs[0].id
    assert mail.reply_to.startswith(f"reply+{mail.id}.{lead}.")
    assert f"Or reply to this mail to answer {commitment.reference}, on its first line" in (
        mail.body_text
    )


def test_a_counter_by_reply_is_a_counter_on_the_timeline(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "counter: Thursday 14:00")
    handoff = fresh(commitment.handoffs[0])
    assert handoff.state == "countered" and handoff.answered_by_id == org.ivo.id
    local = handoff.counter_due_at.astimezone(ZoneInfo("Europe/Berlin"))  # (Ivo's zone)
    assert (local.strftime("%A"), local.hour, local.minute) == ("Thursday", 14, 0)
    assert "counter" in kinds(commitment)
    (answer,) = [m for m in messages(org.ivo.email) if m.id != mail.id]
    assert answer.subject.startswith("Re: ") and answer.body_text.startswith("Done:")
    assert "countered, for Thu" in answer.body_text and "14:00 (Europe/Berlin)" in answer.body_text
    assert [r.outcome for r in noted()] == [TAKEN]


def test_a_counter_that_names_no_date_is_terms(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "counter: only with the customer's own router")
    handoff = fresh(commitment.handoffs[0])
    assert handoff.state == "countered" and handoff.counter_due_at is None
    assert handoff.counter_terms == "only with the customer's own router"


@pytest.fixture
def reminded_of_two(org, make, now):
    """Installation was asked twice and has not answered: one reminder to Ivo of both.
    Answer it, the commitment it shows first and the other."""
    set_policy(always_open=True, ack_window_minutes=5)
    made = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(hours=h)
        )
        for h in (3, 4)
    ]
    with writes():
        sweep(now)
    (mail,) = messages(org.ivo.email)
    lead = int(mail.reply_to.split(".")[1])
    first = next(c for c in made if c.handoffs[0].id == lead)
    return mail, first, next(c for c in made if c is not first)


def test_a_reminder_of_several_answers_the_first_unless_another_is_named(
    reminded_of_two, smtp_port
):
    mail, first, other = reminded_of_two
    assert "to answer another, start with its reference" in mail.body_text
    reply(smtp_port, mail, f"{other.reference} decline: no van")
    reply(smtp_port, mail, "accept")
    assert fresh(first.handoffs[0]).state == "accepted"
    assert fresh(other.handoffs[0]).state == "declined", [r.detail for r in noted()]


def test_accept_and_decline_with_a_reason(org, make, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "decline: no van free until Monday")
    handoff = fresh(commitment.handoffs[0])
    assert handoff.state == "declined" and handoff.answer_note == "no van free until Monday"


def test_a_forged_sender_changes_nothing_and_is_noted_not_answered(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "accept", sender="mallory@evil.example")
    assert fresh(commitment.handoffs[0]).state == "pending"
    (note,) = noted()
    assert note.outcome == REFUSED and "mallory@evil.example" in note.detail
    assert messages(org.ivo.email) == [mail] and messages("mallory@evil.example") == []


def test_admins_read_every_reply_and_what_came_of_it(org, reminded, smtp_port, client, sign_in):
    _, mail = reminded
    reply(smtp_port, mail, "accept", sender="mallory@evil.example")
    reply(smtp_port, mail, "accept")
    sign_in(client, org.ivo)
    assert client.get("/admin/replies").status_code == 403
    sign_in(client, org.admin)
    page = client.get("/admin/replies").get_data(as_text=True)
    assert page.index("ivo") < page.index("mallory@evil.example")  # newest first
    assert "Refused" in page and "Taken" in page


def test_a_from_header_forged_over_another_envelope_is_refused(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "decline: forged", envelope="mallory@evil.example")
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert "mallory@evil.example (its envelope)" in noted()[0].detail


AUTHSERV = "mx.example.com"


@pytest.fixture
def checking_port(app_factory):
    """A listener whose mail server vouches for senders: MAIL_IN_AUTHSERV_ID is set."""
    port = free_port()
    server = listener(app_factory(MAIL_IN_AUTHSERV_ID=AUTHSERV), "127.0.0.1", port)
    server.start()
    yield port
    server.stop()


@pytest.mark.parametrize(
    ("results", "acts"),
    [
        (f"{AUTHSERV}; dmarc=pass (p=reject) header.from=example.com", True),
        (f"{AUTHSERV}; dkim=pass header.d=example.com header.s=s1; spf=pass", True),
        (None, False),  # nothing vouches for the sender
        ("evil.example; dkim=pass header.d=example.com", False),  # written by someone else
        (f"{AUTHSERV}; dkim=pass header.d=evil.example; dmarc=fail header.from=example.com", False),
    ],
)
def test_with_the_mail_servers_word_only_an_authentic_sender_acts(
    org, reminded, checking_port, results, acts
):
    commitment, mail = reminded
    headers = [("Authentication-Results", results)] if results else []
    reply(checking_port, mail, "accept", headers=headers)
    assert fresh(commitment.handoffs[0]).state == ("accepted" if acts else "pending")
    if not acts:
        assert "not authenticated by mx.example.com" in noted()[0].detail


def test_an_unknown_word_is_answered_with_what_would_work(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "maybe later?")
    assert fresh(commitment.handoffs[0]).state == "pending"
    (answer,) = [m for m in messages(org.ivo.email) if m.id != mail.id]
    assert "no answer we know" in answer.body_text and "Nothing was changed" in answer.body_text


def test_an_answer_given_meanwhile_by_someone_else_wins(org, reminded, smtp_port, now):
    commitment, mail = reminded
    with writes():
        services.accept(fresh(commitment.handoffs[0]), org.ben, now, "Booked")
    reply(smtp_port, mail, "decline: no van")
    assert fresh(commitment.handoffs[0]).state == "accepted"
    (answer,) = [m for m in messages(org.ivo.email) if m.id != mail.id]
    assert "already accepted by Ben Okafor" in answer.body_text


def test_an_old_reminder_can_no_longer_act(org, reminded, smtp_port):
    commitment, mail = reminded
    with writes():
        fresh(mail).created_at -= timedelta(days=8)
    reply(smtp_port, mail, "accept")
    assert fresh(commitment.handoffs[0]).state == "pending"
    (answer,) = [m for m in messages(org.ivo.email) if m.id != mail.id]
    assert "expired" in answer.body_text


def test_an_altered_address_and_a_stranger_address_are_refused(org, reminded, smtp_port):
    commitment, mail = reminded
    altered = f"reply+{mail.id}.0.{'a' * 16}@example.com"
    reply(smtp_port, mail, "accept", to=altered)
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert "signature" in noted()[0].detail
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        reply(smtp_port, mail, "accept", to="ceo@example.com")


def test_the_same_mail_twice_acts_once(org, reminded, smtp_port):
    commitment, mail = reminded
    sent = reply(smtp_port, mail, "accept")
    reply(smtp_port, mail, "decline: changed my mind", message_id=sent["Message-ID"])
    assert fresh(commitment.handoffs[0]).state == "accepted"
    assert [r.outcome for r in noted()] == [TAKEN]


def test_a_reference_in_the_middle_of_a_line_names_nothing(reminded_of_two, smtp_port):
    mail, first, other = reminded_of_two
    reply(smtp_port, mail, f"decline: we must finish {other.reference} first")
    assert fresh(first.handoffs[0]).state == "declined"
    assert fresh(first.handoffs[0]).answer_note == f"we must finish {other.reference} first"
    assert fresh(other.handoffs[0]).state == "pending"


@pytest.mark.parametrize(
    "text", ["No problem, will do it Friday", "OK, I am out of office until Monday", "yes"]
)
def test_words_people_write_in_passing_answer_nothing(org, reminded, smtp_port, text):
    commitment, mail = reminded
    reply(smtp_port, mail, text)
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert noted()[0].outcome == REFUSED


def test_an_automatic_reply_answers_nothing_and_is_not_answered(org, reminded, smtp_port):
    commitment, mail = reminded
    message = EmailMessage()
    message["From"], message["To"] = mail.to_address, mail.reply_to
    message["Subject"], message["Auto-Submitted"] = "Out of office", "auto-replied"
    message.set_content("accept\n\nI am away until Monday.")
    with smtplib.SMTP("127.0.0.1", smtp_port, timeout=30) as client:
        client.send_message(message)
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert "automatically" in noted()[0].detail
    assert messages(org.ivo.email) == [mail]  # no answer to an auto-reply (no mail loop)


def test_a_counter_date_out_of_range_changes_nothing(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "counter: 31 December 9999 23:59")
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert noted()[0].outcome == REFUSED and "2099" in noted()[0].detail


def test_a_date_no_calendar_holds_is_read_as_terms(org, reminded, smtp_port):
    commitment, mail = reminded
    reply(smtp_port, mail, "counter: 0001-01-01")  # (it overflowed reading it as a date)
    handoff = fresh(commitment.handoffs[0])
    assert handoff.state == "countered" and handoff.counter_terms == "0001-01-01"


def test_a_mail_that_cannot_be_read_is_refused_once_not_retried(org, reminded, app, now):
    _, mail = reminded
    raw = (
        f"From: {mail.to_address}\r\nTo: {mail.reply_to}\r\nSubject: x\r\n"
        "Content-Type: text/plain; charset=x-bogus\r\n\r\naccept\r\n"
    ).encode()
    outcome = take_reply(raw, [mail.reply_to], now)
    assert outcome.outcome == REFUSED
    assert take_reply(raw, [mail.reply_to], now).detail.startswith("already taken")


@pytest.mark.parametrize(
    ("text", "word", "rest", "reference"),
    [
        ("accept", "accept", "", None),
        ("Decline: no van free until Monday", "decline", "no van free until Monday", None),
        ("C-1042 accept", "accept", "", 1042),
        ("C-1042: decline: no van", "decline", "no van", 1042),
        ("decline: busy with C-1042", "decline", "busy with C-1042", None),
        ("counter Thu 14:00", "counter", "Thu 14:00", None),
        ("thanks!", None, "", None),
    ],
)
def test_the_first_line_reads_as_people_write_it(text, word, rest, reference):
    said = read_line(first_line(f"\n  {text}  \n\nOn Mon someone wrote:\n> accept\n"))
    assert (said.action.value if said.action else None) == word
    assert said.rest == rest and said.reference == reference


def test_quoted_text_is_never_the_answer():
    assert first_line("> accept\n> decline") == ""
    assert first_line("On Mon, Handoff wrote:\n\naccept") == ""
