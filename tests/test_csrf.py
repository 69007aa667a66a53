"""Every POST, htmx ones included, needs the CSRF token."""

import re

import pytest

from conftest import PASSWORD, fresh


@pytest.fixture
def csrf_client(app_factory, app, org):
    application = app_factory(WTF_CSRF_ENABLED=True)
    return application.test_client()


def token_from(page: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)


def test_sign_in_without_a_token_is_refused(csrf_client, org):
    response = csrf_client.post("/login", data={"email": org.ana.email, "password": PASSWORD})
    assert response.status_code == 400
    assert "security token" in response.get_data(as_text=True)


def test_an_htmx_answer_without_the_token_header_changes_nothing(csrf_client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(csrf_client, org.ivo)
    handoff_id = c.handoffs[0].id
    response = csrf_client.post(f"/handoffs/{handoff_id}/accept", headers={"HX-Request": "true"})
    assert response.status_code == 400
    assert "Nothing was changed" in response.get_data(as_text=True)
    assert fresh(c.handoffs[0]).state == "pending"


def test_an_htmx_answer_with_the_token_header_is_taken(csrf_client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(csrf_client, org.ivo)
    page = csrf_client.get(f"/commitments/{c.reference}").get_data(as_text=True)
    header_token = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    assert header_token == token_from(page)
    response = csrf_client.post(
        f"/handoffs/{c.handoffs[0].id}/accept",
        headers={"HX-Request": "true", "X-CSRFToken": header_token},
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert fresh(c.handoffs[0]).state == "accepted"
