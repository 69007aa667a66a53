"""Standing promises: accepted at once within the lead time and limits, otherwise asked."""

from datetime import time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.departments.business_time import BusinessHours
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep
from handoff.promises import services as promise_services
from handoff.promises.models import DepartmentEvent, StandingPromise
from handoff.promises.rules import Terms, judge

from conftest import fresh, htmx_headers
from nagging_helpers import BERLIN, berlin, messages, nag_events, record_within_promise, set_policy

HOURS = BusinessHours(BERLIN, time(8), time(17), holidays=frozenset({berlin(2026, 5, 14).date()}))
INSTALL = Terms("Standard install", "Installation", lead_minutes=3 * 9 * 60)
CREDIT = Terms("Goodwill credit", "Billing", lead_minutes=60, max_amount=Decimal("50.00"))
MONDAY_10 = berlin(2026, 5, 11, 10, 0)


def test_exactly_the_lead_time_is_covered():
    assert judge(INSTALL, now=MONDAY_10, due_at=berlin(2026, 5, 15, 10, 0), hours=HOURS).covered
    # 3 business days from Monday 10:00 is Thursday 10:00 — but Thursday 14 May is a holiday


def test_one_minute_short_is_not_covered_and_says_why():
    verdict = judge(INSTALL, now=MONDAY_10, due_at=berlin(2026, 5, 15, 9, 59), hours=HOURS)
    assert not verdict.covered
    assert (
        verdict.reasons[0].startswith(
            "Installation's 'Standard install' needs 3 business days; you are promising 2."
        )
        or "needs 3 business days; you are promising" in verdict.reasons[0]
    )


def test_the_example_sentence_names_both_lead_times():
    verdict = judge(INSTALL, now=MONDAY_10, due_at=berlin(2026, 5, 12, 10, 0), hours=HOURS)
    assert verdict.reasons == (
        "Installation's 'Standard install' needs 3 business days; you are promising 1 business day",
    )


@pytest.mark.parametrize(
    ("minutes", "words"),
    [
        (540, "1 business day"),
        (1620, "3 business days"),
        (600, "1 business day and 1 h"),
        (150, "2 h 30 min of business time"),
        (45, "45 min of business time"),
        (0, "no time"),
    ],
)
def test_lead_times_read_as_business_days_and_hours(minutes, words):
    from handoff.promises.rules import describe_lead

    assert describe_lead(minutes, HOURS) == words


def test_a_weekend_does_not_count_towards_the_lead_time():
    friday = berlin(2026, 5, 8, 10, 0)
    assert not judge(INSTALL, now=friday, due_at=berlin(2026, 5, 12, 9, 0), hours=HOURS).covered
    assert judge(INSTALL, now=friday, due_at=berlin(2026, 5, 13, 10, 0), hours=HOURS).covered


@pytest.mark.parametrize(
    ("amount", "covered"),
    [(Decimal("49.99"), True), (Decimal("50.00"), True), (Decimal("50.01"), False), (None, False)],
)
def test_an_amount_limit_is_kept(amount, covered):
    due = MONDAY_10 + timedelta(days=1)
    assert judge(CREDIT, now=MONDAY_10, due_at=due, hours=HOURS, amount=amount).covered is covered


def test_a_quantity_limit_and_a_withdrawn_promise():
    boxes = Terms("Spare parts", "Shipping", lead_minutes=0, max_quantity=5)
    due = MONDAY_10 + timedelta(hours=1)
    assert judge(boxes, now=MONDAY_10, due_at=due, hours=HOURS, quantity=5).covered
    assert not judge(boxes, now=MONDAY_10, due_at=due, hours=HOURS, quantity=6).covered
    withdrawn = Terms("Spare parts", "Shipping", lead_minutes=0, active=False)
    assert not judge(withdrawn, now=MONDAY_10, due_at=due, hours=HOURS).covered


@pytest.fixture
def standard_install(org, app):
    set_policy(holidays="2026-05-14")
    promise = promise_services.save_promise(
        org.installation,
        org.ben,
        MONDAY_10,
        promise=None,
        name="Standard install",
        covers="Install one router",
        lead_minutes=3 * 9 * 60,
        max_amount=None,
        max_quantity=2,
    )
    db.session.commit()
    return promise


def record(org, promise, due_at, quantity=None, at=MONDAY_10):
    return record_within_promise(org, promise, due_at, at, quantity)


def _customer():
    from handoff.customers.models import Customer

    customer = Customer(name="C", email="c@example.com", phone="1")
    db.session.add(customer)
    return customer


def test_within_the_promise_the_handoff_is_accepted_at_once_by_it(org, standard_install):
    c = record(org, standard_install, berlin(2026, 5, 15, 10, 0), quantity=1)
    handoff = fresh(c.handoffs[0])
    assert handoff.state == "accepted" and handoff.accepted_by_promise
    assert handoff.answered_by_id is None
    events = [e for e in nag_events(c)] + [
        e.summary
        for e in db.session.scalars(
            select(DepartmentEvent).where(DepartmentEvent.department_id == org.installation.id)
        )
    ]
    from handoff.kernel.timeline import TimelineEvent

    summaries = [
        e.words
        for e in db.session.scalars(
            select(TimelineEvent).where(TimelineEvent.commitment_id == c.id)
        )
    ]
    assert "Accepted by standing promise 'Standard install'" in summaries
    assert any("published the standing promise" in e for e in events)


def test_the_department_hears_in_its_digest_not_as_a_reminder(org, standard_install):
    c = record(org, standard_install, berlin(2026, 5, 15, 10, 0))
    report = sweep(MONDAY_10 + timedelta(minutes=5))
    assert report.reminders == 0 and report.digests == 2  # Ben (lead) and Ivo
    [digest] = messages(org.ivo.email)
    text = digest.body_text
    assert "accepted at once by a standing promise: nothing to answer" in text
    assert "waits for you" not in text
    assert "Accept" not in digest.body_text.split("Open:")[0].split(c.reference)[1]
    assert fresh(c.handoffs[0]).nags_total == 0


@pytest.mark.parametrize(
    ("due", "quantity"),
    [(berlin(2026, 5, 15, 9, 59), 1), (berlin(2026, 5, 18, 10, 0), 3)],
    ids=["a-minute-short", "over-the-quantity"],
)
def test_beyond_the_promise_the_department_must_answer(org, standard_install, due, quantity):
    c = record(org, standard_install, due, quantity=quantity)
    assert fresh(c.handoffs[0]).state == "pending"
    assert sweep(MONDAY_10 + timedelta(hours=2)).reminders == 1  # chased like any other


def test_a_promise_of_another_department_is_refused(org, standard_install, now):
    step = services.RouteStep(
        org.billing, "Invoice", now + timedelta(days=5), standing_promise=standard_install
    )
    with pytest.raises(InvalidInput, match="not Billing's promise"):
        services.record_commitment(
            actor=org.ana,
            customer=_customer(),
            title="x",
            details="",
            channel="phone",
            promised_at=now + timedelta(days=6),
            owner_department=org.sales,
            route=[step],
            now=now,
        )


def test_the_form_warns_live_which_steps_need_an_answer_and_who_is_on_duty(
    client, org, standard_install, sign_in, now
):
    promise_services.set_on_duty(org.installation, org.ben, now, org.ben)
    db.session.commit()
    sign_in(client, org.ana)
    soon = (now + timedelta(hours=1)).astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
    later = (now + timedelta(days=14)).astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
    data = {
        "route-0-department_id": str(org.installation.id),
        "route-0-due_at": soon,
        "route-0-standing_promise_id": str(standard_install.id),
        "route-1-department_id": str(org.billing.id),
        "route-1-due_at": later,
    }
    response = client.post("/commitments/new/check", data=data, headers=htmx_headers())
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "<html" not in body
    assert "Installation&#39;s &#39;Standard install&#39; needs 3 business days" in body
    # the business time it needs and the clock time it is due, side by side
    due = (now + timedelta(hours=1)).astimezone(BERLIN).strftime("%a %d %b %H:%M")
    assert f">{due}</time>, in " in body and " by the clock)" in body
    assert "Installation must confirm this." in body and "On duty: Ben Okafor." in body
    assert "Billing must confirm this</strong>: no standing promise is named" in body
    data["route-0-due_at"] = later
    body = client.post("/commitments/new/check", data=data, headers=htmx_headers()).get_data(
        as_text=True
    )
    assert "accepted at once by its standing promise ‘Standard install’" in body


def test_saving_the_form_with_a_standing_promise_accepts_the_step(
    client, org, standard_install, sign_in, now
):
    sign_in(client, org.ana)
    later = (now + timedelta(days=14)).astimezone(BERLIN).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/commitments/new",
        data={
            "op": "save",
            "new_customer_name": "Oak Studio",
            "title": "Router installed",
            "promised_at": later,
            "channel": "phone",
            "owner_department_id": str(org.sales.id),
            "route-0-department_id": str(org.installation.id),
            "route-0-ask": "Install the router",
            "route-0-due_at": later,
            "route-0-standing_promise_id": str(standard_install.id),
            "route-0-quantity": "1",
        },
    )
    assert response.status_code == 303
    db.session.rollback()
    from handoff.commitments.models import Handoff

    handoff = db.session.scalars(select(Handoff)).one()
    assert handoff.state == "accepted" and handoff.quantity == 1
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Accepted at once by standing promise ‘Standard install’" in page


def test_only_leads_keep_the_catalogue_and_every_change_is_on_the_department_timeline(
    client, org, standard_install, sign_in
):
    sign_in(client, org.ivo)  # a member: reads, cannot change
    page = client.get(f"/departments/{org.installation.id}/promises").get_data(as_text=True)
    assert "Standard install" in page and "3 business days" in page
    data = {"name": "Express install", "lead": "1", "lead_unit": "days", "active": "y"}
    url = f"/departments/{org.installation.id}/promises"
    assert client.post(url, data=data).status_code == 403
    sign_in(client, org.ben)
    assert client.post(url, data={**data, "lead": ""}).status_code == 422
    assert client.post(url, data=data).status_code == 303
    url_change = f"{url}/{standard_install.id}"
    change = {"name": "Standard install", "lead": "4", "lead_unit": "days", "max_quantity": "2"}
    assert client.post(url_change, data=change).status_code == 303  # withdrawn: no "active"
    db.session.rollback()
    assert fresh(standard_install).lead_minutes == 4 * 9 * 60 and not standard_install.active
    page = client.get(url).get_data(as_text=True)
    assert "Ben Okafor published the standing promise &#39;Express install&#39;" in page
    assert "changed &#39;Standard install&#39; (3 business days, at most 2)" in page
    assert client.post(url, data=data).status_code == 422  # the name is taken
    count = db.session.scalars(select(StandingPromise)).all()
    assert len(count) == 2


def test_only_a_member_of_the_department_can_be_on_duty(org, app, now):
    with pytest.raises(InvalidInput):
        promise_services.set_on_duty(org.installation, org.ben, now, org.dev)
    with pytest.raises(NotAllowed):
        promise_services.set_on_duty(org.installation, org.ivo, now, org.ivo)


def test_fyi_rows_are_news_not_reminders(org, standard_install):
    c = record(org, standard_install, berlin(2026, 5, 15, 10, 0))
    kinds = {
        n.kind for n in db.session.scalars(select(Nag).where(Nag.handoff_id == c.handoffs[0].id))
    }
    assert kinds == {"fyi"}


def test_the_department_timeline_says_who_went_on_duty(client, org, sign_in, app, now):
    promise_services.set_on_duty(org.installation, org.ben, now, org.ben)
    promise_services.set_on_duty(org.installation, org.ben, now + timedelta(hours=1), org.ivo)
    db.session.commit()
    sign_in(client, org.ivo)
    page = client.get(f"/departments/{org.installation.id}/promises").get_data(as_text=True)
    assert "Ben Okafor put themselves on duty" in page
    assert "Ben Okafor put Ivo Berg on duty" in page
    assert "<strong>Ivo Berg</strong>" in page


@pytest.mark.parametrize("picked", ["99999", "²", "x", str(2**63)])
def test_putting_someone_unknown_on_duty_is_refused_not_read_as_nobody(
    client, org, sign_in, picked
):
    sign_in(client, org.ben)
    assert (
        client.post(
            f"/departments/{org.installation.id}/on-duty", data={"person_id": org.ivo.id}
        ).status_code
        == 303
    )
    response = client.post(
        f"/departments/{org.installation.id}/on-duty", data={"person_id": picked}
    )
    assert response.status_code == 422
    assert "Pick someone from the list" in response.get_data(as_text=True)
    assert fresh(org.installation).on_duty_person_id == org.ivo.id
    empty = client.post(f"/departments/{org.installation.id}/on-duty", data={"person_id": ""})
    assert empty.status_code == 303 and fresh(org.installation).on_duty_person_id is None


def test_a_step_promised_years_ahead_is_judged_without_counting_every_day():
    far = berlin(2095, 5, 11, 10, 0)
    assert judge(INSTALL, now=MONDAY_10, due_at=far, hours=HOURS).covered
    # counted in full, years of business time are there too (no search limit to run out of)
    years = HOURS.minutes_between(MONDAY_10, berlin(2031, 5, 11, 10, 0))
    assert 5 * 240 * 9 * 60 < years < 5 * 262 * 9 * 60


def test_the_form_checks_a_step_years_ahead_without_an_error(
    client, org, sign_in, standard_install
):
    sign_in(client, org.ana)
    data = {
        "title": "Far",
        "channel": "phone",
        "owner_department_id": org.sales.id,
        "new_customer_name": "Far Away Ltd",
        "promised_at": "2090-06-01T10:00",
        "route-0-department_id": org.installation.id,
        "route-0-ask": "Install",
        "route-0-due_at": "2089-12-31T10:00",
        "route-0-standing_promise_id": standard_install.id,
    }
    assert client.post("/commitments/new/check", data=data).status_code == 200
    assert client.post("/commitments/new", data=data).status_code in (200, 303)


@pytest.mark.parametrize("department", [str(2**63), "9" * 40, "\u0661", "-1"])
def test_a_step_for_a_department_no_database_holds_is_the_fields_error(
    client, org, make, sign_in, department
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    response = client.post(
        f"/commitments/{c.reference}/steps",
        data={"department_id": department, "ask": "Bill", "due_at": "2027-01-15T10:00"},
    )
    assert response.status_code == 422
    assert len(fresh(c).handoffs) == 1
