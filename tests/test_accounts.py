"""Signing in and out, and where a sign-in may send you."""

from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import PASSWORD, fresh, htmx_headers


def test_signing_in_with_the_right_password_opens_the_board(client, org):
    typed = org.ana.email.upper() + " "
    response = client.post("/login", data={"email": typed, "password": PASSWORD})
    assert response.status_code == 302
    assert response.headers["Location"] == "/"
    assert "Ana Ruiz" in client.get("/").get_data(as_text=True)


def test_a_wrong_password_is_refused_in_place(client, org):
    response = client.post("/login", data={"email": org.ana.email, "password": "nope"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "do not match" in page
    assert org.ana.email in page  # the entered email is kept
    assert client.get("/").status_code == 302


def test_an_inactive_person_cannot_sign_in(client, org, app):
    from handoff.kernel.db import db

    org.dev.active = False
    db.session.commit()
    response = client.post("/login", data={"email": org.dev.email, "password": PASSWORD})
    assert response.status_code == 422


def test_signing_in_keeps_the_browser_time_zone_when_none_is_set(client, org, app):
    from handoff.kernel.db import db

    org.ana.time_zone = None
    db.session.commit()
    client.post(
        "/login",
        data={"email": org.ana.email, "password": PASSWORD, "time_zone": "America/Chicago"},
    )
    assert fresh(org.ana).time_zone == "America/Chicago"


def test_next_sends_you_back_to_the_page_you_asked_for(client, org):
    response = client.get("/lookup?q=abc")
    assert response.status_code == 302
    location = urlsplit(response.headers["Location"])
    assert (location.path, parse_qs(location.query)["next"]) == ("/login", ["/lookup?q=abc"])
    response = client.post(
        "/login", data={"email": org.ana.email, "password": PASSWORD, "next": "/lookup?q=abc"}
    )
    assert response.headers["Location"] == "/lookup?q=abc"


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "\\\\evil.example",
        "javascript:alert(1)",
        "evil.example",
        " //evil.example",
    ],
)
def test_next_never_leaves_the_site(client, org, target):
    response = client.post(
        "/login", data={"email": org.ana.email, "password": PASSWORD, "next": target}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/"


def test_signing_out_ends_the_session(client, org, sign_in):
    sign_in(client, org.ana)
    assert client.get("/").status_code == 200
    client.post("/logout")
    assert client.get("/").status_code == 302


def test_an_expired_session_sends_htmx_requests_to_the_sign_in_page(client, org):
    response = client.get("/", headers=htmx_headers())
    assert response.headers["HX-Redirect"] == "/login"


def test_pages_carry_a_strict_content_security_policy(client):
    policy = client.get("/login").headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy
    assert "unsafe-inline" not in policy


def test_an_address_too_long_to_be_a_page_is_not_echoed_into_the_sign_in_redirect(client):
    response = client.get("/inbox?x=" + "a" * 5000)
    assert response.status_code == 302
    assert len(response.headers["Location"]) < 100
    assert "next=" not in response.headers["Location"]
    assert "next=/inbox?x%3Daa" in client.get("/inbox?x=aa").headers["Location"]


def test_a_person_names_their_own_time_zone_and_every_moment_follows_it(client, org, make, sign_in):
    """/me names the zone; choosing another shows every time in it (a sign-in from a browser
    elsewhere does not undo the choice); a zone nobody knows is refused in place."""
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    me = client.get("/me").get_data(as_text=True)
    assert f"Your time zone: <strong>{fresh(org.ana).time_zone or 'Europe/Berlin'}" in me
    assert '<option selected value="Asia/Tokyo">' in me or 'value="Asia/Tokyo"' in me
    chosen = client.post("/me/time-zone", data={"time_zone": "Asia/Tokyo"})
    assert chosen.status_code == 303 and fresh(org.ana).time_zone == "Asia/Tokyo"
    me = client.get("/me").get_data(as_text=True)
    assert "Your time zone: <strong>Asia/Tokyo</strong>" in me
    tokyo = c.promised_at.astimezone(__import__("zoneinfo").ZoneInfo("Asia/Tokyo"))
    page = client.get(f"/commitments/{c.reference}").get_data(as_text=True)
    assert tokyo.strftime("%a %d %b %H:%M") in page
    refused = client.post("/me/time-zone", data={"time_zone": "Mars/Olympus_Mons"})
    assert refused.status_code == 422 and "Not a valid choice" in refused.get_data(as_text=True)
    assert fresh(org.ana).time_zone == "Asia/Tokyo"
    client.post("/logout")
    client.post(
        "/login", data={"email": org.ana.email, "password": PASSWORD, "time_zone": "Europe/Paris"}
    )
    assert fresh(org.ana).time_zone == "Asia/Tokyo"


def test_a_head_request_answers_as_a_get_does(client, org, sign_in):
    """What an uptime check sends: HEAD /login is 200, not a refused form."""
    assert client.head("/login").status_code == 200
    sign_in(client, org.admin)
    for path in ("/commitments/new", "/admin/departments", "/admin/people"):
        assert client.head(path).status_code == client.get(path).status_code == 200, path
