"""What leaves as mail: decided once per address, in the recipient's hours, still true when
it leaves, only when something is new, within a daily cap or in one morning digest."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent
from handoff.mail import FAILED
from handoff.nagging import mailing
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep
from handoff.ownership.models import CustomerTask

from conftest import fresh
from nagging_helpers import berlin, messages, nag_events, nags, record_within_promise, set_policy

MONDAY_9 = berlin(2026, 5, 11, 9, 0)  # policy: Mon–Fri 08–17, answer within 2 h, every 4 h


@pytest.fixture
def policy(app):
    return set_policy()


def waiting_since(org, make, at, route=None, **kw):
    return make.commitment(
        by=org.ana,
        owner=org.sales,
        route=route or [org.installation],
        at=at,
        due_in=timedelta(days=9),
        **kw,
    )


def held_at_closing(org, make):
    """Ivo was mailed at 16:45; a new reminder recorded at 16:50 is held by the throttle."""
    set_policy(ack_window_minutes=10, cadence_minutes=600)
    first = waiting_since(org, make, berlin(2026, 5, 11, 16, 35))
    second = waiting_since(org, make, berlin(2026, 5, 11, 16, 40))
    sweep(berlin(2026, 5, 11, 16, 45))
    sweep(berlin(2026, 5, 11, 16, 50))
    assert len(messages(org.ivo.email)) == 1
    [held] = [n for n in nags(second.handoffs[0]) if n.recipient_email == org.ivo.email]
    assert held.message_id is None and held.mail_after == berlin(2026, 5, 11, 17, 0)
    return first, second


def test_a_reminder_held_back_at_closing_is_not_mailed_after_closing(org, make, app):
    _, second = held_at_closing(org, make)
    for minute in (0, 15, 30):
        sweep(berlin(2026, 5, 11, 17, minute))
    assert len(messages(org.ivo.email)) == 1  # nothing after 17:00
    [held] = [n for n in nags(second.handoffs[0]) if n.recipient_email == org.ivo.email]
    assert held.mail_after == berlin(2026, 5, 12, 8, 0)  # it waits for the next opening
    sweep(berlin(2026, 5, 12, 8, 0))
    [_, morning] = messages(org.ivo.email)
    assert second.reference in morning.body_text


def test_a_reminder_held_back_is_not_mailed_after_the_answer(org, make, app):
    _, second = held_at_closing(org, make)
    services.counter(
        fresh(second.handoffs[0]), org.ivo, berlin(2026, 5, 11, 16, 56), due_at=None, terms="Later"
    )
    db.session.commit()
    sweep(berlin(2026, 5, 11, 17, 0))
    sweep(berlin(2026, 5, 12, 8, 0))
    assert all(second.reference not in m.body_text for m in messages(org.ivo.email))
    [held] = [n for n in nags(second.handoffs[0]) if n.recipient_email == org.ivo.email]
    assert held.message_id is None and held.drop_reason == "it is countered now"
    assert f"Reminder 1 not mailed to {org.ivo.email}: it is countered now" in nag_events(second)


def test_standing_promise_news_waits_for_the_departments_hours(org, make, app):
    from handoff.promises.models import StandingPromise

    set_policy()
    promise = StandingPromise(
        department_id=org.installation.id, name="Standard install", covers="", lead_minutes=60
    )
    db.session.add(promise)
    db.session.commit()
    late_evening = berlin(2026, 5, 11, 22, 0)
    record_within_promise(org, promise, late_evening + timedelta(days=5), at=late_evening)
    sweep(late_evening)
    sweep(berlin(2026, 5, 12, 7, 45))
    assert messages(org.ivo.email) == []
    sweep(berlin(2026, 5, 12, 8, 0))
    [news] = messages(org.ivo.email)
    assert "accepted at once by a standing promise" in news.body_text


def test_a_repeat_waits_for_the_morning_and_what_is_new_goes_at_once(org, make, policy):
    c = waiting_since(org, make, MONDAY_9)
    sweep(berlin(2026, 5, 11, 11, 0))  # reminder 1: new
    sweep(berlin(2026, 5, 11, 15, 0))  # reminder 2: the same news again
    assert len(messages(org.ivo.email)) == 1
    second = next(n for n in nags(c.handoffs[0]) if n.number == 2)
    assert second.mail_after == berlin(2026, 5, 12, 8, 0)
    sweep(berlin(2026, 5, 12, 8, 0))  # the morning collects it
    assert len(messages(org.ivo.email)) == 2
    sweep(berlin(2026, 5, 12, 10, 0))  # reminder 3 escalates to the leads: new for everyone
    assert len(messages(org.ivo.email)) == 3
    assert len(messages(org.ben.email)) == 1


def test_what_each_address_was_mailed_before_is_its_own(org, make, policy):
    """Two addresses decided in one transaction: the same reminder is a repeat for the one
    who had its topic, and news for one who joined since."""
    c = waiting_since(org, make, MONDAY_9)
    sweep(berlin(2026, 5, 11, 11, 0))  # reminder 1 to Ivo
    zoe = make.person("Zoe Quist", member_of=[org.installation])
    db.session.commit()
    sweep(berlin(2026, 5, 11, 15, 0))  # reminder 2: Ivo had it, Zoe did not
    assert len(messages(org.ivo.email)) == 1
    [to_zoe] = messages(zoe.email)
    assert c.reference in to_zoe.body_text
    second = {n.recipient_email: n for n in nags(c.handoffs[0]) if n.number == 2}
    assert second[org.ivo.email].mail_after == berlin(2026, 5, 12, 8, 0)
    assert second[zoe.email].message_id == to_zoe.id


def test_a_person_in_morning_mode_gets_one_digest_at_the_start_of_the_day(org, make, policy):
    org.ivo.digest_mode = "morning"
    db.session.commit()
    first = waiting_since(org, make, MONDAY_9)
    second = waiting_since(org, make, berlin(2026, 5, 11, 10, 0))
    for hour in range(11, 17):
        sweep(berlin(2026, 5, 11, hour, 0))
    assert messages(org.ivo.email) == []
    sweep(berlin(2026, 5, 12, 8, 0))
    [digest] = messages(org.ivo.email)
    assert first.reference in digest.body_text and second.reference in digest.body_text


def test_the_daily_cap_holds_the_rest_until_the_next_business_day(org, make, policy, app):
    app.config["DIGEST_DAILY_CAP"] = 2
    for hour in (9, 10, 11):
        waiting_since(org, make, berlin(2026, 5, 11, hour, 0))
    for hour in (11, 12, 13):
        sweep(berlin(2026, 5, 11, hour, 0))
    assert len(messages(org.ivo.email)) == 2
    sweep(berlin(2026, 5, 12, 8, 0))
    assert len(messages(org.ivo.email)) == 3


def test_a_digest_that_cannot_be_written_is_kept_as_failed_and_the_others_go_out(
    org, make, policy, monkeypatch
):
    waiting_since(org, make, MONDAY_9, route=[org.installation, org.billing])
    real = mailing.compose_digest

    def write_or_fail(address, *args):
        if address == org.ivo.email:
            raise ValueError("a planted fault")
        return real(address, *args)

    monkeypatch.setattr(mailing, "compose_digest", write_or_fail)
    report = sweep(berlin(2026, 5, 11, 11, 0))
    assert report.digests == 1
    [failed] = messages(org.ivo.email)
    assert failed.status == FAILED and "a planted fault" in failed.last_error
    assert [m.status for m in messages(org.dev.email)] == ["pending"]
    assert sweep(berlin(2026, 5, 11, 11, 15)).digests == 0  # not tried again every round


def test_the_former_customer_owner_gets_one_hand_over_notice_in_its_own_hours(org, make, policy):
    set_policy(org.sales, time_zone="America/New_York", day_start="09:00", day_end="17:00")
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=2)
    )
    services.accept(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 9, 0))  # late: Installation talks to the customer now
    [task] = db.session.scalars(select(CustomerTask)).all()
    assert task.from_department_id == org.sales.id
    assert messages(org.ana.email) == []  # 03:00 in New York
    for hour in range(10, 17):
        sweep(berlin(2026, 5, 12, hour, 0))
    [notice] = messages(org.ana.email)
    assert notice.created_at == berlin(2026, 5, 12, 15, 0)  # 09:00 in New York
    assert "Installation talks to the customer now" in notice.body_text
    handover = [n for n in nags() if n.kind == "handover"]
    assert [(n.recipient_email, n.message_id) for n in handover] == [(org.ana.email, notice.id)]


def test_a_passed_on_task_says_to_whom_and_the_new_one_carries_what_was_told(org, make, policy):
    from handoff.ownership.services import mark_told

    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    services.decline(c.handoffs[0], org.ivo, make.now, "No fitter free")
    db.session.commit()
    [first] = db.session.scalars(select(CustomerTask)).all()
    mark_told(first, org.ivo, make.now, "Install moves to next week")
    db.session.commit()
    services.decline(fresh(c.handoffs[1]), org.dev, make.now, "Credit check failed")
    db.session.commit()
    tasks = db.session.scalars(select(CustomerTask).order_by(CustomerTask.id)).all()
    assert tasks[-1].carried == "Installation: “Install moves to next week”"
    assert tasks[-1].from_department_id == org.installation.id
    c2 = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    services.decline(c2.handoffs[0], org.ivo, make.now, "No fitter")
    db.session.commit()
    services.decline(fresh(c2.handoffs[1]), org.dev, make.now, "No credit")
    db.session.commit()
    passed = db.session.scalar(
        select(CustomerTask).where(
            CustomerTask.commitment_id == c2.id, CustomerTask.outcome == "passed_on"
        )
    )
    assert passed.note == "passed on to Billing when Billing declined"
    summaries = [
        e.words
        for e in db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.commitment_id == c2.id)
        )
    ]
    assert any("was passed on to Billing, which tells the customer by" in s for s in summaries)


def test_two_sweeps_at_one_moment_write_one_digest_per_address(org, make, policy):
    waiting_since(org, make, MONDAY_9, route=[org.installation, org.billing])
    sweep(berlin(2026, 5, 11, 11, 0))
    sweep(berlin(2026, 5, 11, 11, 0))
    assert len(messages(org.ivo.email)) == 1 and len(messages(org.dev.email)) == 1
    assert db.session.scalar(select(Nag.id).where(Nag.mail_after.is_not(None))) is None


def test_a_person_chooses_one_morning_digest_on_their_page(client, sign_in, org):
    sign_in(client, org.ivo)
    page = client.get("/me").get_data(as_text=True)
    assert "How reminders reach me" in page
    assert 'checked id="digest_mode-0" name="digest_mode" type="radio" value="immediate"' in page
    response = client.post("/me/reminders", data={"digest_mode": "morning"})
    assert response.status_code == 303
    assert fresh(org.ivo).digest_mode == "morning"
    refused = client.post("/me/reminders", data={"digest_mode": "hourly"})
    assert refused.status_code == 422 and "Not a valid choice" in refused.get_data(as_text=True)
    assert fresh(org.ivo).digest_mode == "morning"


def test_a_long_digest_tells_the_most_urgent_in_full_lists_the_next_and_counts_the_rest(
    org, make, policy, app
):
    app.config["DIGEST_ITEMS_IN_FULL"] = 2
    app.config["DIGEST_ITEMS_LISTED"] = 5
    waiting = [
        make.commitment(
            by=org.ana,
            owner=org.sales,
            route=[org.installation],
            at=MONDAY_9,
            due_in=timedelta(days=9 + n),
        )
        for n in range(8)
    ]
    sweep(berlin(2026, 5, 11, 11, 0))
    [mail] = messages(org.ivo.email)
    text, html = mail.body_text, mail.body_html
    # soonest due first: two with their answer buttons, three a line each, three counted
    in_full, listed, counted = waiting[:2], waiting[2:5], waiting[5:]
    for c in in_full:
        assert f"{c.reference} " in text
    assert text.count("Accept: http") == 2 and html.count(">Accept</a>") == 2
    assert "Also waiting, less urgent:" in text and "Also waiting, less urgent:" in html
    for c in listed:
        assert f"- {c.reference} " in text and f"/commitments/{c.reference}" in html
    for c in counted:
        assert c.reference not in text and c.reference not in html
    inbox = f"/departments/{org.installation.id}/inbox"
    assert f"3 more wait for you in Handoff: http://127.0.0.1:5000{inbox}" in text
    assert f'href="http://127.0.0.1:5000{inbox}"' in html
    assert mail.subject.startswith("[Handoff] 8 handoffs for you")
    # every reminder was mailed, counted ones too: none waits to be mailed again
    assert all(n.message_id == mail.id for n in nags() if n.recipient_email == org.ivo.email)


def test_the_escalation_contact_without_an_account_gets_every_item_listed(org, make, policy, app):
    app.config["DIGEST_ITEMS_IN_FULL"] = 2
    app.config["DIGEST_ITEMS_LISTED"] = 3
    legal = make.department("Legal")  # nobody to remind: the organisation's contact hears
    waiting = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[legal], at=MONDAY_9, due_in=timedelta(days=9 + n)
        )
        for n in range(6)
    ]
    sweep(berlin(2026, 5, 11, 11, 0))
    [mail] = messages("duty@example.com")
    for c in waiting:  # nothing only counted behind a link the contact may not open
        assert c.reference in mail.body_text and c.reference in mail.body_html
    assert "more wait for you" not in mail.body_text
