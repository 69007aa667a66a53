"""Recording a commitment through the form: saved whole, or refused in place with nothing saved."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handoff.commitments.models import Commitment, Handoff
from handoff.customers.models import Customer
from handoff.kernel.db import db

from conftest import htmx_headers


def local(moment) -> str:
    """A moment as a Berlin datetime-local value, as the form's inputs send it."""
    from zoneinfo import ZoneInfo

    return moment.astimezone(ZoneInfo("Europe/Berlin")).strftime("%Y-%m-%dT%H:%M")


@pytest.fixture
def form(org, now):
    def build(**changes):
        data = {
            "op": "save",
            "new_customer_name": "Harbor Bakery",
            "new_customer_email": "office@harbor.example",
            "new_customer_phone": "+49 30 1234 567",
            "new_customer_account_ref": "A-777",
            "title": "Installation within 24 hours",
            "details": "Oven line 2",
            "promised_at": local(now + timedelta(days=2)),
            "channel": "phone",
            "owner_department_id": str(org.sales.id),
            "route-0-department_id": str(org.installation.id),
            "route-0-ask": "Install the oven controller",
            "route-0-due_at": local(now + timedelta(days=1)),
            "route-1-department_id": str(org.billing.id),
            "route-1-ask": "Invoice the installation",
            "route-1-due_at": local(now + timedelta(days=2)),
        }
        data.update(changes)
        return {k: v for k, v in data.items() if v is not None}

    return build


def counts():
    db.session.rollback()
    return tuple(
        db.session.scalar(select(func.count(model.id))) for model in (Commitment, Handoff, Customer)
    )


def test_saving_creates_the_commitment_its_handoffs_and_the_customer(client, org, sign_in, form):
    sign_in(client, org.ana)
    response = client.post("/commitments/new", data=form(), headers=htmx_headers())
    assert response.status_code == 204
    db.session.rollback()  # see what the request committed
    commitment = db.session.scalars(select(Commitment)).one()
    assert response.headers["HX-Redirect"] == f"/commitments/{commitment.reference}"
    assert [(h.department.name, h.state) for h in commitment.handoffs] == [
        ("Installation", "pending"),
        ("Billing", "pending"),
    ]
    assert commitment.customer.account_ref == "A-777"
    assert commitment.customer.phone_digits == "49301234567"
    page = client.get(f"/commitments/{commitment.reference}").get_data(as_text=True)
    assert "Install the oven controller" in page and "Harbor Bakery" in page


def test_saving_without_htmx_redirects_to_the_commitment(client, org, sign_in, form):
    sign_in(client, org.ana)
    response = client.post("/commitments/new", data=form())
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/commitments/C-")


def test_an_existing_customer_can_be_picked(client, org, make, sign_in, form):
    customer = make.customer("Nordic Dental")
    sign_in(client, org.ana)
    data = form(customer_id=str(customer.id), new_customer_name=None, new_customer_account_ref=None)
    assert client.post("/commitments/new", data=data).status_code == 303
    db.session.rollback()
    assert db.session.scalars(select(Commitment)).one().customer_id == customer.id


BAD_INPUT = {
    "no customer": (
        {"new_customer_name": "", "new_customer_account_ref": ""},
        "Pick a customer from the search",
    ),
    "unknown customer": ({"customer_id": "99999"}, "no longer exists"),
    "taken account reference": ({"new_customer_account_ref": "TAKEN"}, "already belongs"),
    "bad customer email": ({"new_customer_email": "not-an-email"}, "Invalid email"),
    "no promise": ({"title": ""}, "Say what was promised."),
    "promise too long": ({"title": "x" * 201}, "Field cannot be longer than 200"),
    "no promised date": ({"promised_at": ""}, "Give a date and time."),
    "garbled date": ({"promised_at": "next tuesday"}, "Not a valid datetime value"),
    "promise in the past": ({"promised_at": "2020-01-01T10:00"}, "promised time is in the past"),
    "step in the past": ({"route-1-due_at": "2020-01-01T10:00"}, "Billing is in the past"),
    "no department": ({"route-0-department_id": ""}, "Pick a department."),
    "unknown department": ({"route-0-department_id": "99999"}, "Not a valid choice"),
    "repeated department": (
        {"route-1-department_id": "INSTALLATION"},
        "Each department can appear only once",
    ),
    "nothing asked": ({"route-0-ask": ""}, "Say what is asked."),
    "empty route": (
        {f"route-{i}-{f}": None for i in (0, 1) for f in ("department_id", "ask", "due_at")},
        "Pick a department.",
    ),
    "not my department": ({"owner_department_id": "BILLING"}, "Not a valid choice"),
    "unknown channel": ({"channel": "pigeon"}, "Not a valid choice"),
}


@pytest.mark.parametrize("case", list(BAD_INPUT))
def test_bad_input_is_refused_in_place_and_nothing_is_saved(client, org, make, sign_in, form, case):
    make.customer("Someone", account_ref="TAKEN")
    changes, message = BAD_INPUT[case]
    changes = {
        k: {"INSTALLATION": str(org.installation.id), "BILLING": str(org.billing.id)}.get(v, v)
        for k, v in changes.items()
    }
    before = counts()
    sign_in(client, org.ana)
    response = client.post("/commitments/new", data=form(**changes), headers=htmx_headers())
    body = response.get_data(as_text=True)
    assert response.status_code == 422, body
    assert message in body
    assert body.lstrip().startswith('<form id="commitment-form"')  # the form alone, in place
    assert counts() == before
    if case != "promise too long":
        assert 'value="Oven line 2"' in body or "Oven line 2</textarea>" in body  # values kept


def test_a_full_page_post_with_errors_gets_the_whole_page(client, org, sign_in, form):
    sign_in(client, org.ana)
    response = client.post("/commitments/new", data=form(title=""))
    assert response.status_code == 422
    assert "<html" in response.get_data(as_text=True)


def test_adding_and_removing_route_rows_saves_nothing(client, org, sign_in, form):
    sign_in(client, org.ana)
    before = counts()
    body = client.post(
        "/commitments/new", data=form(op="add-step", title=""), headers=htmx_headers()
    ).get_data(as_text=True)
    assert 'name="route-2-department_id"' in body
    assert "Say what was promised." not in body  # adding a row does not validate
    body = client.post(
        "/commitments/new", data=form(op="remove-route-0"), headers=htmx_headers()
    ).get_data(as_text=True)
    assert 'name="route-0-ask"' not in body and 'value="Invoice the installation"' in body
    assert counts() == before


def test_someone_in_no_department_cannot_record(client, org, sign_in, form):
    from handoff.accounts.models import Person

    loner = Person(name="Lone", email="lone@example.com", password_hash="x")
    db.session.add(loner)
    db.session.commit()
    sign_in(client, loner)
    response = client.post("/commitments/new", data=form(), headers=htmx_headers())
    assert response.status_code == 422
    assert "belong to no department" in response.get_data(as_text=True)
    assert counts()[0] == 0


def test_the_customer_search_offers_matching_customers(client, org, make, sign_in):
    make.customer("Nordic Dental", email="desk@nordic.example", phone="+49 30 987 654")
    make.customer("Harbor Hotel")
    sign_in(client, org.ana)
    for query in ("nordic", "desk@", "987654", "30 987"):
        body = client.get(f"/customers/search?customer_query={query}").get_data(as_text=True)
        assert "Nordic Dental" in body and "Harbor Hotel" not in body, query
    body = client.get("/customers/search?customer_query=zzz").get_data(as_text=True)
    assert "No customer matches" in body


@pytest.mark.parametrize(
    "changes, field, message",
    [
        ({"promised_at": "2020-01-01T10:00"}, "promised_at", "promised time is in the past"),
        ({"route-1-due_at": "2020-01-01T10:00"}, "route-1-due_at", "Billing is in the past"),
    ],
)
def test_a_date_the_rules_refuse_is_said_beside_its_own_field(
    client, org, sign_in, form, changes, field, message
):
    sign_in(client, org.ana)
    body = client.post("/commitments/new", data=form(**changes), headers=htmx_headers()).text
    errors = f'id="{field}-errors"'
    assert errors in body, body[:2000]
    assert message in body[body.index(errors) :][:300]
    assert f'aria-describedby="{field}-errors"' in body
    banners = [line for line in body.splitlines() if 'class="problem"' in line]
    assert not any(message in line for line in banners)  # beside the field, not above the form
