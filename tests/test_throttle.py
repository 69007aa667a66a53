"""Sign-in is throttled per account and per client address, in the database that every
process shares; an email nobody has costs the same work as a wrong password."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handoff.accounts import models as accounts_models
from handoff.accounts.models import SignInFailure
from handoff.accounts.services import forget_old_failures
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db

from conftest import PASSWORD, writes


def attempt(client, email: str, password: str = "wrong guess", address: str = "203.0.113.7"):
    return client.post(
        "/login",
        data={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": address},
    )


def failures() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count(SignInFailure.id)))


def test_the_sixth_try_at_one_account_from_one_address_waits_even_with_the_right_password(
    client, org
):
    for _ in range(5):
        assert attempt(client, org.ana.email).status_code == 422
    response = attempt(client, org.ana.email, PASSWORD)
    assert response.status_code == 429
    assert 0 < int(response.headers["Retry-After"]) <= 15 * 60
    page = response.get_data(as_text=True)
    assert "Too many failed sign-ins" in page and "Try again in 15 minutes" in page
    assert client.get("/").status_code == 302  # not signed in
    # other accounts are not held up, and nobody locks Ana out from her own desk on purpose
    assert attempt(client, org.ben.email, PASSWORD).status_code == 302
    assert attempt(client, org.ana.email, PASSWORD, address="198.51.100.1").status_code == 302


def test_guessing_one_account_from_many_addresses_waits_at_the_accounts_own_limit(app_factory, org):
    client = app_factory(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=8).test_client()
    for index in range(8):
        assert attempt(client, org.ana.email, address=f"203.0.113.{index}").status_code == 422
    assert attempt(client, org.ana.email, PASSWORD, address="198.51.100.1").status_code == 429
    assert attempt(client, org.ben.email, PASSWORD, address="198.51.100.1").status_code == 302


def test_parallel_guesses_get_no_more_tries_than_the_limit(web_app, org):
    import threading

    barrier = threading.Barrier(12)
    statuses = []
    email = org.ana.email

    def guess():
        client = web_app.test_client()
        barrier.wait()
        statuses.append(attempt(client, email).status_code)

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(statuses) == [422] * statuses.count(422) + [429] * statuses.count(429)
    assert statuses.count(422) == 5 and len(statuses) == 12  # they took turns: exactly the limit
    assert failures() == statuses.count(422)  # every failure counted, refusals not


def test_an_email_nobody_has_is_throttled_exactly_like_one_somebody_has(client, org):
    for _ in range(5):
        assert attempt(client, "nobody@example.com").status_code == 422
    assert attempt(client, "nobody@example.com").status_code == 429
    assert attempt(client, "NOBODY@example.com ").status_code == 429  # the same account typed


def test_one_address_trying_many_accounts_waits_after_twenty_failures(client, org):
    for index in range(20):
        assert attempt(client, f"guess{index}@example.com").status_code == 422
    assert attempt(client, org.ana.email, PASSWORD).status_code == 429
    assert attempt(client, org.ana.email, PASSWORD, address="198.51.100.1").status_code == 302


def test_an_ipv6_client_is_counted_by_its_64_block(client, org):
    for index in range(20):
        address = f"2001:db8:1:2::{index + 1:x}"
        assert attempt(client, f"guess{index}@example.com", address=address).status_code == 422
    assert attempt(client, org.ana.email, PASSWORD, address="2001:db8:1:2::ff").status_code == 429
    assert attempt(client, org.ana.email, PASSWORD, address="2001:db8:1:3::1").status_code == 302


def test_the_count_is_shared_by_every_process_on_the_database(app_factory, org):
    first, second = app_factory().test_client(), app_factory().test_client()
    for index in range(5):
        assert attempt(first if index % 2 else second, org.ana.email).status_code == 422
    assert attempt(first, org.ana.email, PASSWORD).status_code == 429
    assert attempt(second, org.ana.email, PASSWORD).status_code == 429


def test_failures_older_than_the_window_count_for_nothing_and_are_forgotten(client, org, app):
    long_ago = utcnow() - timedelta(minutes=16)
    with writes():
        for index in range(20):
            account = org.ben.email if index < 5 else f"guess{index}@example.com"
            db.session.add(SignInFailure(at=long_ago, account=account, address="203.0.113.7"))
    assert attempt(client, org.ben.email, PASSWORD).status_code == 302
    assert attempt(client, org.ana.email, PASSWORD).status_code == 302
    with writes():
        assert forget_old_failures(utcnow()) == 15  # (Ben's five went with his sign-in)
    assert failures() == 0


def test_a_success_forgives_its_accounts_failures_but_not_its_addresses(client, org):
    for _ in range(4):
        attempt(client, org.ana.email)
    for index in range(4):
        attempt(client, f"guess{index}@example.com")
    assert failures() == 8
    assert attempt(client, org.ana.email, PASSWORD).status_code == 302
    assert failures() == 4  # the guesses at other accounts still count against the address


def test_guessing_the_current_password_on_my_page_is_throttled_too(client, org, sign_in):
    sign_in(client, org.ana)
    wrong = {"current": "wrong", "new": "a much better one", "repeat": "a much better one"}
    for _ in range(5):
        assert client.post("/me/password", data=wrong).status_code == 422
    right = dict(wrong, current=PASSWORD)
    response = client.post("/me/password", data=right)
    assert response.status_code == 429 and "Retry-After" in response.headers


@pytest.mark.parametrize("who", ["nobody@example.com", "inactive"])
def test_an_unknown_or_closed_account_costs_one_password_check_like_a_wrong_password(
    client, org, app, monkeypatch, who
):
    checks = []
    original = accounts_models.check_password_hash

    def counted(stored, password):
        checks.append(stored)
        return original(stored, password)

    if who == "inactive":
        with writes():
            org.dev.active = False
        who = org.dev.email
    monkeypatch.setattr(accounts_models, "check_password_hash", counted)
    attempt(client, org.ana.email)
    assert len(checks) == 1
    attempt(client, who)
    assert len(checks) == 2  # the same work: one hash of the typed password
    method = checks[0].split("$")[0]
    assert checks[1].startswith(method)  # made the same way as real ones


def test_failing_on_purpose_from_many_places_does_not_lock_a_person_out_of_their_own_browser(
    app_factory, org
):
    app = app_factory(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=8)
    desk, attacker, stranger = app.test_client(), app.test_client(), app.test_client()
    assert attempt(desk, org.ana.email, PASSWORD, address="192.0.2.10").status_code == 302
    desk.post("/logout")
    for index in range(8):
        assert attempt(attacker, org.ana.email, address=f"203.0.113.{index}").status_code == 422
    # a browser that never signed in as Ana waits at the account's limit …
    assert attempt(stranger, org.ana.email, PASSWORD, address="198.51.100.1").status_code == 429
    # … her own browser does not, even from another address (her laptop at home)
    assert attempt(desk, org.ana.email, PASSWORD, address="198.51.100.2").status_code == 302
    # and it still waits at the limits of its own address like any other
    desk.post("/logout")
    for _ in range(5):
        assert attempt(desk, org.ana.email, address="198.51.100.3").status_code == 422
    assert attempt(desk, org.ana.email, PASSWORD, address="198.51.100.3").status_code == 429


def test_a_known_browser_cookie_that_was_tampered_with_counts_for_nothing(app_factory, org):
    app = app_factory(SIGN_IN_MAX_FAILURES_PER_ACCOUNT=3)
    client = app.test_client()
    for index in range(3):
        assert attempt(client, org.ana.email, address=f"203.0.113.{index}").status_code == 422
    client.set_cookie("handoff_known", "WyJhbmFAZXhhbXBsZS5jb20iXQ.forged.signature")
    assert attempt(client, org.ana.email, PASSWORD, address="198.51.100.1").status_code == 429
