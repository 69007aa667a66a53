"""Hostile input gets a clear 4xx and changes nothing, never a 500: bounds kept where ids,
numbers and text enter the program."""

import pytest
from sqlalchemy import func, select

from handoff.commitments.models import Commitment
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent

from conftest import htmx_headers

HUGE = str(2**63)


@pytest.fixture
def commitment(org, make):
    return make.commitment(by=org.ana, owner=org.sales, route=[org.installation])


def events() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(TimelineEvent.id)))


@pytest.mark.parametrize(
    "path",
    [
        "/commitments/C-²",
        "/commitments/C-١٢٣",  # Arabic-Indic digits
        f"/commitments/C-{HUGE}",
        f"/handoffs/{HUGE}",
        f"/admin/outbox/{HUGE}",
        f"/departments/{HUGE}/promises",
        f"/departments/{HUGE}/inbox",
    ],
)
def test_a_reference_or_id_no_database_holds_is_a_404(client, sign_in, org, commitment, path):
    sign_in(client, org.admin)
    assert client.get(path).status_code == 404


@pytest.mark.parametrize(
    "query",
    [
        "/?customer=" + HUGE,
        "/?department=" + HUGE,
        "/?customer=²",
        "/?department=-1",
        "/lookup?q=C-¹²³",
        "/lookup?q=" + "%" * 5000,
        "/lookup?q=" + "a_" * 3000,
        "/commitments/new?customer=" + HUGE,
    ],
)
def test_filters_and_searches_with_hostile_values_answer_without_an_error(
    client, sign_in, org, commitment, query
):
    sign_in(client, org.ana)
    assert client.get(query).status_code == 200
    assert client.get(query, headers=htmx_headers()).status_code == 200


@pytest.mark.parametrize(
    "request_",
    [
        ("get", "/lookup?q=a%00b", None),
        ("get", "/customers/search?customer_query=%00", None),
        ("post", "/commitments/C-1001/comments", {"body": "hello\x00"}),
    ],
)
def test_a_nul_byte_anywhere_is_refused_and_changes_nothing(
    client, sign_in, org, commitment, request_
):
    method, path, data = request_
    sign_in(client, org.ana)
    before = events()
    response = getattr(client, method)(path, data=data)
    assert response.status_code == 400
    assert "NUL" in response.get_data(as_text=True)
    assert events() == before


@pytest.mark.parametrize("amount", ["1e30", "Infinity", "NaN", "-1", "12345678901"])
def test_an_amount_no_column_holds_is_refused_in_place(amount):
    from decimal import Decimal

    from werkzeug.datastructures import MultiDict
    from wtforms import Form
    from wtforms.fields import DecimalField

    from handoff.kernel.forms import amount_bounds

    class F(Form):
        amount = DecimalField(validators=[amount_bounds()])

    form = F(MultiDict({"amount": amount}))
    assert not form.validate()
    assert F(MultiDict({"amount": str(Decimal("9999999999.99"))})).validate()


@pytest.mark.parametrize("quantity", [HUGE, str(2**31)])
def test_a_quantity_no_column_holds_is_refused_in_place(quantity):
    from werkzeug.datastructures import MultiDict
    from wtforms import Form
    from wtforms.fields import IntegerField

    from handoff.kernel.forms import count_bounds

    class F(Form):
        quantity = IntegerField(validators=[count_bounds()])

    assert not F(MultiDict({"quantity": quantity})).validate()
    assert F(MultiDict({"quantity": str(2**31 - 1)})).validate()


def test_a_sign_in_next_with_a_line_break_is_ignored_not_a_500(client, org):
    from conftest import PASSWORD

    response = client.post(
        "/login?next=/%0d%0aSet-Cookie:x=1",
        data={"email": org.ana.email, "password": PASSWORD, "next": "/\r\nSet-Cookie: x=1"},
    )
    assert response.status_code in (302, 303)
    assert "\n" not in response.headers["Location"] and response.headers["Location"].endswith("/")


def test_a_reference_with_unicode_digits_finds_nothing():
    assert Commitment.id_from_reference("C-²") is None
    assert Commitment.id_from_reference("C-" + HUGE) is None
    assert Commitment.id_from_reference("C-1042") == 42


def test_signed_in_pages_are_never_stored_and_static_files_may_be(client, sign_in, org):
    assert "no-store" not in client.get("/login").headers.get("Cache-Control", "")
    sign_in(client, org.ana)
    assert client.get("/").headers["Cache-Control"] == "no-store"
    assert client.get("/lookup?q=x", headers=htmx_headers()).headers["Cache-Control"] == "no-store"
    static = client.get("/static/app.css")
    assert "no-store" not in static.headers.get("Cache-Control", "")
    static.close()
    assert "Strict-Transport-Security" not in client.get("/").headers  # plain HTTP here


def test_over_https_every_answer_asks_for_https_from_now_on(client, sign_in, org):
    response = client.get("/login", base_url="https://handoff.example")
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")


def test_a_picked_customer_id_no_column_holds_is_a_form_error(client, sign_in, org, make):
    sign_in(client, org.ana)
    response = client.post(
        "/commitments/new",
        data={"customer_id": HUGE, "title": "Router", "owner_department_id": org.sales.id},
    )
    assert response.status_code == 422
    assert db.session.scalar(select(func.count(Commitment.id))) == 0


def test_pages_may_not_be_framed_sniffed_or_opened_by_other_sites(client):
    page = client.get("/login")
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert page.headers["Cross-Origin-Opener-Policy"] == "same-origin"


def test_a_reminder_links_page_is_never_stored(client):
    response = client.get("/act/not-a-real-token")
    assert response.status_code == 400
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00", "9999-12-31T23:59", "1999-12-31T23:59"])
def test_a_date_outside_this_century_is_the_fields_error_not_an_overflow(
    client, sign_in, org, commitment, moment
):
    sign_in(client, org.ana)
    before = events()
    response = client.post(
        f"/commitments/{commitment.reference}/steps",
        data={"department_id": org.billing.id, "ask": "Invoice", "due_at": moment},
    )
    assert response.status_code == 422
    assert "Give a date from 2000 to 2099." in response.get_data(as_text=True)
    sign_in(client, org.ivo)  # Installation answers its handoff
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/counter", data={"due_at": moment}
    )
    assert response.status_code == 422
    assert events() == before


@pytest.mark.parametrize(
    "name", ["route-²-ask", "route-\u0661-department_id", "route-99999999999999999999-ask"]
)
@pytest.mark.parametrize("path", ["/commitments/new", "/commitments/new/check"])
def test_a_route_row_numbered_in_other_digits_is_no_row_not_an_error(
    client, sign_in, org, name, path
):
    sign_in(client, org.ana)
    response = client.post(path, data={name: "Install", "title": "Router"})
    assert response.status_code in (200, 422)


def test_a_body_larger_than_any_form_is_refused_unread(client, sign_in, org):
    sign_in(client, org.ana)
    response = client.post(
        "/commitments/new",
        data="title=" + "x" * (2 * 1024 * 1024),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 413
    assert events() == 0


@pytest.mark.parametrize(
    ("path", "field"),
    [("/login", "password"), ("/commitments/C-1001/comments", "body"), ("/me/password", "new")],
)
def test_a_field_sent_as_a_file_is_refused_at_the_door(
    client, sign_in, org, commitment, path, field
):
    import io

    if path != "/login":
        sign_in(client, org.ana)
    before = events()
    response = client.post(
        path,
        data={"email": org.ana.email, field: (io.BytesIO(b"secret"), "f.txt")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "takes no files" in response.get_data(as_text=True)
    assert events() == before


@pytest.mark.parametrize(
    ("person", "path", "data"),
    [
        ("dev", "/handoffs/{handoff}/counter", {"due_at": "garbage"}),  # Billing, not Installation
        ("ivo", "/commitments/{reference}/steps", {"department_id": "x"}),  # not the owner side
        ("dev", "/departments/{installation}/on-duty", {"person_id": "x"}),  # not its lead
    ],
)
def test_who_may_not_act_is_told_so_before_what_they_sent_is_read(
    client, sign_in, org, commitment, person, path, data
):
    sign_in(client, getattr(org, person))
    before = events()
    url = path.format(
        handoff=commitment.handoffs[0].id,
        reference=commitment.reference,
        installation=org.installation.id,
    )
    assert client.post(url, data=data).status_code == 403
    assert events() == before
