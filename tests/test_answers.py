"""Answering handoffs through the web: the row swaps in place, bad answers change nothing."""

import sqlite3
from contextlib import contextmanager
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy import func, select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent

from conftest import fresh, htmx_headers


def timeline_count(commitment) -> int:
    db.session.rollback()
    return db.session.scalar(
        select(func.count(TimelineEvent.id)).where(TimelineEvent.commitment_id == commitment.id)
    )


@pytest.fixture
def commitment(org, make):
    return make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])


def test_accepting_in_the_inbox_swaps_only_the_row(client, org, commitment, sign_in):
    sign_in(client, org.ivo)
    handoff = commitment.handoffs[0]
    response = client.post(
        f"/handoffs/{handoff.id}/accept", data={"view": "inbox"}, headers=htmx_headers()
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith(f'<article id="handoff-{handoff.id}"')
    assert "<html" not in body
    assert "Mark done" in body and ">Accept<" not in body  # only the actions valid now
    assert commitment.reference in body  # the inbox row names its commitment
    assert response.headers["HX-Trigger"] == "handoff-changed"
    assert "HX-Request" in response.headers["Vary"]
    assert fresh(handoff).state == "accepted"


def test_an_answer_reads_the_signed_in_person_once_and_its_handoff_again_after_the_commit(
    client, org, commitment, sign_in, count_queries
):
    """The commits of an answer (the end of its reading on SQLite, and of its writing) keep
    the person it was let in as; the card sent back reads the handoff as it now is."""
    sign_in(client, org.ivo)
    handoff = commitment.handoffs[0]
    with count_queries() as statements:
        response = client.post(
            f"/handoffs/{handoff.id}/accept", data={"view": "inbox"}, headers=htmx_headers()
        )
    assert response.status_code == 200 and "Mark done" in response.get_data(as_text=True)
    reads = [s for s in statements if s.lstrip().startswith("SELECT")]
    assert sum(s.lstrip().startswith("SELECT person.id") for s in reads) == 1
    assert sum(s.lstrip().startswith("UPDATE handoff") for s in statements) == 1


def test_without_htmx_an_answer_redirects_back_to_the_page(client, org, commitment, sign_in):
    sign_in(client, org.ivo)
    handoff = commitment.handoffs[0]
    response = client.post(f"/handoffs/{handoff.id}/accept", data={"view": "inbox"})
    assert response.status_code == 303
    assert response.headers["Location"] == f"/departments/{org.installation.id}/inbox"
    response = client.post(f"/handoffs/{handoff.id}/complete", data={"view": "commitment"})
    assert response.headers["Location"] == f"/commitments/{commitment.reference}"


def test_member_of_billing_cannot_accept_installation_handoff(client, org, commitment, sign_in):
    sign_in(client, org.dev)
    before = timeline_count(commitment)
    response = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", headers=htmx_headers())
    assert response.status_code == 403
    assert "Only members of Installation" in response.get_data(as_text=True)
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert timeline_count(commitment) == before


def test_declining_without_a_reason_shows_the_error_in_the_row(client, org, commitment, sign_in):
    sign_in(client, org.ivo)
    before = timeline_count(commitment)
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/decline",
        data={"reason": "  "},
        headers=htmx_headers(),
    )
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "A reason is required." in body
    assert "<details open>" in body  # the decline form stays open with its error
    assert fresh(commitment.handoffs[0]).state == "pending"
    assert timeline_count(commitment) == before


def test_a_counter_without_date_or_terms_is_refused_in_place(client, org, commitment, sign_in):
    sign_in(client, org.ivo)
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/counter",
        data={"note": "maybe"},
        headers=htmx_headers(),
    )
    assert response.status_code == 422
    assert "Give a date or terms" in response.get_data(as_text=True)
    assert 'value="maybe"' in response.get_data(as_text=True)  # what was typed is kept


def test_a_counter_date_in_the_past_is_refused(client, org, commitment, sign_in, now):
    sign_in(client, org.ivo)
    past = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/counter",
        data={"due_at": past},
        headers=htmx_headers(),
    )
    assert response.status_code == 422
    assert "in the past" in response.get_data(as_text=True)
    assert fresh(commitment.handoffs[0]).state == "pending"


def test_a_counter_date_is_read_in_the_readers_time_zone(client, org, commitment, sign_in, now):
    sign_in(client, org.ivo)  # Europe/Berlin
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/counter",
        data={"due_at": "2030-07-01T10:00", "terms": ""},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    countered = fresh(commitment.handoffs[0])
    assert countered.state == "countered"
    assert countered.counter_due_at.isoformat() == "2030-07-01T08:00:00+00:00"  # CEST is UTC+2
    assert "Mon 01 Jul 2030 10:00" in response.get_data(as_text=True)


def test_answering_a_handoff_someone_else_answered_first_says_who_and_how(
    client, org, commitment, sign_in, now
):
    services.decline(commitment.handoffs[0], org.ben, now, "No technician free")
    db.session.commit()
    sign_in(client, org.ivo)
    before = timeline_count(commitment)
    response = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", headers=htmx_headers())
    assert response.status_code == 409
    body = response.get_data(as_text=True)
    assert "Already declined by Ben Okafor" in body
    assert f'id="handoff-{commitment.handoffs[0].id}"' in body  # the row, showing the truth
    assert timeline_count(commitment) == before


def test_the_same_answer_twice_is_harmless(client, org, commitment, sign_in, now):
    services.accept(commitment.handoffs[0], org.ben, now)
    db.session.commit()
    sign_in(client, org.ivo)
    before = timeline_count(commitment)
    response = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", headers=htmx_headers())
    assert response.status_code == 200
    assert "Already accepted by Ben Okafor" in response.get_data(as_text=True)
    assert "HX-Trigger" not in response.headers
    assert timeline_count(commitment) == before


def test_only_the_owner_side_settles_a_counter(client, org, commitment, sign_in, now):
    services.counter(commitment.handoffs[0], org.ivo, now, due_at=None, terms="Only mornings")
    db.session.commit()
    sign_in(client, org.ben)
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/take-counter", headers=htmx_headers()
    )
    assert response.status_code == 403
    sign_in(client, org.ana)
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/take-counter", headers=htmx_headers()
    )
    assert response.status_code == 200
    assert fresh(commitment.handoffs[0]).state == "accepted"


def test_rejecting_a_counter_needs_a_reason(client, org, commitment, sign_in, now):
    services.counter(commitment.handoffs[0], org.ivo, now, due_at=None, terms="Only mornings")
    db.session.commit()
    sign_in(client, org.ana)
    url = f"/handoffs/{commitment.handoffs[0].id}/reject-counter"
    assert client.post(url, data={"reason": ""}, headers=htmx_headers()).status_code == 422
    assert fresh(commitment.handoffs[0]).state == "countered"
    assert client.post(url, data={"reason": "Mornings are fine? No."}).status_code == 303
    assert fresh(commitment.handoffs[0]).state == "pending"


def test_an_unknown_handoff_or_action_is_404(client, org, commitment, sign_in):
    sign_in(client, org.ivo)
    assert client.post("/handoffs/999999/accept").status_code == 404
    assert client.post(f"/handoffs/{commitment.handoffs[0].id}/approve").status_code == 404


def test_the_commitment_page_offers_each_person_only_their_actions(
    client, org, commitment, sign_in
):
    sign_in(client, org.ivo)
    page = client.get(f"/commitments/{commitment.reference}").get_data(as_text=True)
    installation, billing = commitment.handoffs
    assert f"/handoffs/{installation.id}/accept" in page
    assert f"/handoffs/{billing.id}/accept" not in page
    assert "Cancel the commitment" not in page
    sign_in(client, org.ana)
    page = client.get(f"/commitments/{commitment.reference}").get_data(as_text=True)
    assert f"/handoffs/{installation.id}/accept" not in page
    assert "Cancel the commitment" in page


def test_a_done_handoff_shows_who_accepted_it_and_who_finished_it(client, org, make, sign_in, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(c.handoffs[0], org.ivo, now)
    services.complete(c.handoffs[0], org.ben, now)
    db.session.commit()
    sign_in(client, org.ana)
    page = client.get(f"/commitments/{c.reference}").get_data(as_text=True)
    assert "Accepted by Ivo Berg" in page
    assert "Done by Ben Okafor" in page


@contextmanager
def someone_else_writes_at_the_lock(web_app, database_url, sql: str, *params):
    """While the block runs, another connection runs `sql` (and commits) just before the
    request's write lock begins (SQLite's first BEGIN IMMEDIATE); yields the BEGINs seen."""
    with web_app.app_context():
        engine = db.engine
    begins = []

    def meanwhile(conn, cursor, statement, parameters, context, many):
        if not statement.startswith("BEGIN"):
            return
        begins.append(statement)
        if statement == "BEGIN IMMEDIATE" and begins.count(statement) == 1:
            other = sqlite3.connect(database_url.removeprefix("sqlite:///"))
            other.execute(sql, params)
            other.commit()
            other.close()

    sa.event.listen(engine, "before_cursor_execute", meanwhile)
    try:
        yield begins
    finally:
        sa.event.remove(engine, "before_cursor_execute", meanwhile)


def test_an_answer_reads_first_and_decides_on_the_state_under_its_lock(
    client, org, commitment, sign_in, web_app, database_url
):
    """On SQLite an answer's request reads as a reader and takes the write lock only at its
    row lock, so two people answering at once wait on each other for the change alone. What
    it decides is decided again under the lock: a decline saved by someone else between
    this request's reading and its lock wins, and this accept is refused, changing nothing."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock taken late is SQLite's (PostgreSQL locks the row alone)")
    sign_in(client, org.ivo)
    handoff = commitment.handoffs[0]
    declined = "UPDATE handoff SET state = 'declined', answer_note = 'No van' WHERE id = ?"
    with someone_else_writes_at_the_lock(web_app, database_url, declined, handoff.id) as begins:
        response = client.post(
            f"/handoffs/{handoff.id}/accept", data={"view": "inbox"}, headers=htmx_headers()
        )
    assert begins[0] == "BEGIN"  # who asks and about what: read without the write lock
    assert "BEGIN IMMEDIATE" in begins  # the change: under it
    assert response.status_code == 409
    assert "Nothing was changed" in response.get_data(as_text=True)
    db.session.rollback()
    assert fresh(handoff).state == "declined"
    assert fresh(handoff).answer_note == "No van"


def test_two_people_taking_off_the_last_two_steps_at_once_leave_one(
    client, org, commitment, sign_in, web_app, database_url
):
    """Taking a step off the route reads what is left of it under the commitment's lock:
    when someone else took the other step off between this request's reading and its lock,
    this one is refused (the commitment would have no route left) and changes nothing."""
    if not database_url.startswith("sqlite"):
        pytest.skip("the moment between reading and locking is SQLite's reads_first")
    sign_in(client, org.ana)
    first, second = commitment.handoffs
    taken_off = "UPDATE handoff SET state = 'cancelled' WHERE id = ?"
    with someone_else_writes_at_the_lock(web_app, database_url, taken_off, second.id) as begins:
        response = client.post(
            f"/handoffs/{first.id}/remove",
            data={"view": "commitment", "reason": "Not needed"},
            headers=htmx_headers(),
        )
    assert begins[0] == "BEGIN"
    assert response.status_code == 422
    assert "last step of the route" in response.get_data(as_text=True)
    assert [fresh(first).state, fresh(second).state] == ["pending", "cancelled"]


def test_a_refused_counter_date_is_said_beside_its_field_and_described_by_it(
    client, org, commitment, sign_in, now
):
    sign_in(client, org.ivo)
    handoff_id = commitment.handoffs[0].id
    past = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    body = client.post(
        f"/handoffs/{handoff_id}/counter", data={"due_at": past}, headers=htmx_headers()
    ).get_data(as_text=True)
    errors = f'id="h{handoff_id}-counter-due_at-errors"'
    assert errors in body and "in the past" in body[body.index(errors) :][:200]
    assert f'aria-describedby="h{handoff_id}-counter-due_at-errors"' in body
    declined = client.post(
        f"/handoffs/{handoff_id}/decline", data={"reason": "  "}, headers=htmx_headers()
    ).get_data(as_text=True)
    assert f'id="h{handoff_id}-decline-reason-errors"' in declined
