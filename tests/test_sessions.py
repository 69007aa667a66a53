"""Sessions end where they should: signing out, a new password, an admin's reset or closing
an account ends every session and remember-me cookie of that person; cookies are bounded."""

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookies import SimpleCookie

import pytest

from conftest import PASSWORD, fresh, writes


def signed_in(web_app, person, remember: bool = False):
    """A browser that signed in by typing the password."""
    client = web_app.test_client()
    response = client.post(
        "/login",
        data={"email": person.email, "password": PASSWORD, "remember": "y" if remember else ""},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    return client, response


def on_the_board(client) -> bool:
    return client.get("/").status_code == 200


def only_remember_me(web_app, client):
    """The same browser after it was closed: its session cookie gone, remember-me kept."""
    reopened = web_app.test_client()
    cookie = client.get_cookie("remember_token")
    assert cookie is not None
    reopened.set_cookie("remember_token", cookie.value)
    return reopened


def test_signing_out_ends_every_session_of_that_person_and_no_one_elses(web_app, org):
    laptop, _ = signed_in(web_app, org.ana)
    phone, _ = signed_in(web_app, org.ana)
    colleague, _ = signed_in(web_app, org.ben)
    assert on_the_board(laptop) and on_the_board(phone)
    response = laptop.post("/logout")
    assert response.status_code == 303
    assert not on_the_board(laptop)
    assert not on_the_board(phone)  # the other device is signed out too
    assert on_the_board(colleague)
    again, _ = signed_in(web_app, org.ana)  # and signing in again works
    assert on_the_board(again)


def test_remember_me_survives_closing_the_browser_but_not_signing_out_elsewhere(web_app, org):
    browser, _ = signed_in(web_app, org.ana, remember=True)
    reopened = only_remember_me(web_app, browser)
    assert on_the_board(reopened)
    kept = only_remember_me(web_app, browser)  # a copy of the cookie, as a thief would keep
    other, _ = signed_in(web_app, org.ana)
    other.post("/logout")
    assert not on_the_board(kept)


def test_changing_my_password_keeps_this_session_and_ends_the_others(web_app, org):
    here, _ = signed_in(web_app, org.ana)
    there, _ = signed_in(web_app, org.ana, remember=True)
    remembered = only_remember_me(web_app, there)
    response = here.post(
        "/me/password",
        data={"current": PASSWORD, "new": "a much better one", "repeat": "a much better one"},
    )
    assert response.status_code == 303
    assert on_the_board(here)
    assert not on_the_board(there)
    assert not on_the_board(remembered)
    assert fresh(org.ana).check_password("a much better one")


@pytest.mark.parametrize(
    ("data", "error"),
    [
        ({"current": "wrong", "new": "a much better one", "repeat": "a much better one"}, "not"),
        ({"current": PASSWORD, "new": "short", "repeat": "short"}, "At least 8"),
        ({"current": PASSWORD, "new": "a much better one", "repeat": "another"}, "differ"),
    ],
)
def test_a_refused_new_password_says_why_in_place_and_changes_nothing(web_app, org, data, error):
    here, _ = signed_in(web_app, org.ana)
    there, _ = signed_in(web_app, org.ana)
    before = fresh(org.ana).session_token
    response = here.post("/me/password", data=data)
    assert response.status_code == 422
    assert error in response.get_data(as_text=True)
    assert fresh(org.ana).session_token == before
    assert on_the_board(there)


def test_an_admin_resetting_a_password_or_closing_an_account_ends_its_sessions(web_app, org):
    admin, _ = signed_in(web_app, org.admin)
    ana, _ = signed_in(web_app, org.ana)
    dev, _ = signed_in(web_app, org.dev)
    form = {"name": "Ana Ruiz", "email": org.ana.email, "time_zone": "", "active": "y"}
    response = admin.post(f"/admin/people/{org.ana.id}", data={**form, "password": "new secret!"})
    assert response.status_code == 303
    assert not on_the_board(ana)
    form = {"name": "Dev Patel", "email": org.dev.email, "time_zone": ""}  # "Can sign in" off
    assert admin.post(f"/admin/people/{org.dev.id}", data=form).status_code == 303
    assert not on_the_board(dev)
    assert on_the_board(admin)


def test_an_admin_setting_their_own_password_stays_signed_in(web_app, org):
    admin, _ = signed_in(web_app, org.admin)
    form = {"name": "Admin", "email": org.admin.email, "is_admin": "y", "active": "y"}
    response = admin.post(f"/admin/people/{org.admin.id}", data={**form, "password": "new one!!"})
    assert response.status_code == 303
    assert on_the_board(admin)


def test_a_closed_account_is_signed_out_even_if_its_token_is_unchanged(web_app, org, app):
    ana, _ = signed_in(web_app, org.ana)
    with writes():
        org.ana.active = False  # closed behind the admin page's back: the loader still refuses
    assert not on_the_board(ana)


def test_a_cookie_of_the_old_kind_naming_only_a_person_signs_in_no_one(web_app, org):
    client = web_app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(org.ana.id)
    assert not on_the_board(client)
    with client.session_transaction() as session:
        session["_user_id"] = f"{2**80}:x"
    assert client.get("/").status_code == 302


def cookie_attributes(response, name: str) -> dict:
    for header in response.headers.getlist("Set-Cookie"):
        cookie = SimpleCookie()
        cookie.load(header)
        if name in cookie:
            morsel = cookie[name]
            return {key: morsel[key] for key in morsel if morsel[key]} | {
                "secure": "secure" in header.lower().split("; ")
            }
    raise AssertionError(f"no {name} cookie set")


def test_remember_me_lasts_30_days_at_most_and_is_not_sent_from_other_sites(web_app, org):
    _, response = signed_in(web_app, org.ana, remember=True)
    remember = cookie_attributes(response, "remember_token")
    lasts = parsedate_to_datetime(remember["expires"]) - datetime.now(UTC)
    assert timedelta(days=29) < lasts <= timedelta(days=30)
    assert remember["samesite"] == "Lax" and remember["httponly"]
    assert not remember["secure"]  # plain HTTP here
    session = cookie_attributes(response, "session")
    assert session["samesite"] == "Lax" and session["httponly"]


def test_with_secure_cookies_both_cookies_are_https_only(app_factory, org):
    web = app_factory(SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    _, response = signed_in(web, org.ana, remember=True)
    assert cookie_attributes(response, "remember_token")["secure"]
    assert cookie_attributes(response, "session")["secure"]


def test_a_kept_remember_me_cookie_stops_working_30_days_after_signing_in(
    web_app, org, monkeypatch
):
    browser, _ = signed_in(web_app, org.ana, remember=True)
    kept = only_remember_me(web_app, browser)  # the browser ignores the cookie's expiry
    signed_at = datetime.now(UTC)
    monkeypatch.setattr("handoff.accounts.routes.utcnow", lambda: signed_at + timedelta(days=29))
    assert on_the_board(only_remember_me(web_app, browser))
    monkeypatch.setattr("handoff.accounts.routes.utcnow", lambda: signed_at + timedelta(days=31))
    assert not on_the_board(kept)
    assert not on_the_board(browser)  # the session it restored ends with it
