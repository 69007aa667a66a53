"""A row another process holds, or a database out of reach: 503 "try again", nothing changed,
and the next request works."""

import threading
import time

import pytest
import sqlalchemy as sa

from handoff import create_app
from handoff.commitments.models import Handoff
from handoff.kernel.db import db

from conftest import fresh, htmx_headers


@pytest.fixture
def commitment(org, make):
    return make.commitment(by=org.ana, owner=org.sales, route=[org.installation])


def hold(database_url: str, handoff_id: int):
    """Another connection takes the handoff's row (PostgreSQL) or the write lock (SQLite);
    answer the connection, its transaction and its engine."""
    engine = sa.create_engine(database_url)
    connection = engine.connect()
    transaction = connection.begin()
    if engine.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT id FROM handoff WHERE id = :id FOR UPDATE"), {"id": handoff_id}
        )
    else:
        connection.exec_driver_sql("UPDATE handoff SET ask = ask")  # takes the write lock
    return connection, transaction, engine


@pytest.fixture
def held(database_url, commitment):
    """The handoff is held by another connection for the whole test."""
    connection, transaction, engine = hold(database_url, commitment.handoffs[0].id)
    yield
    transaction.rollback()
    connection.close()
    engine.dispose()


def test_an_answer_to_a_row_someone_else_holds_is_503_try_again_and_changes_nothing(
    app_factory, org, commitment, sign_in, held
):
    web = app_factory(DB_LOCK_TIMEOUT_MS=500)
    client = web.test_client()
    sign_in(client, org.ivo)
    started = time.monotonic()
    response = client.post(
        f"/handoffs/{commitment.handoffs[0].id}/accept",
        data={"view": "inbox"},
        headers=htmx_headers(),
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "2"
    assert "try again" in response.get_data(as_text=True)
    assert time.monotonic() - started < 15  # a bounded wait, not a hang
    assert fresh(commitment.handoffs[0]).state == "pending"


def test_after_the_holder_lets_go_the_same_answer_goes_through(
    app_factory, database_url, org, commitment, sign_in
):
    connection, transaction, engine = hold(database_url, commitment.handoffs[0].id)
    threading.Timer(0.3, transaction.rollback).start()  # a holder that lets go soon
    web = app_factory()
    client = web.test_client()
    sign_in(client, org.ivo)
    response = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", data={})
    connection.close()
    engine.dispose()
    assert response.status_code in (200, 303)
    assert fresh(commitment.handoffs[0]).state == "accepted"


def test_a_stalled_transaction_is_cut_off_and_its_locks_released(database_url, commitment):
    if not database_url.startswith("postgresql"):
        pytest.skip("idle_in_transaction_session_timeout is PostgreSQL's")
    configured = create_app(
        {"SQLALCHEMY_DATABASE_URI": database_url, "DB_IDLE_IN_TRANSACTION_MS": 300}
    )
    engine = sa.create_engine(database_url, **configured.config["SQLALCHEMY_ENGINE_OPTIONS"])
    row = sa.select(Handoff.id).where(Handoff.id == commitment.handoffs[0].id)
    stalled = engine.connect()
    stalled.begin()
    stalled.execute(row.with_for_update())
    time.sleep(1)  # stalled, as a stopped nagger would be
    with pytest.raises(sa.exc.DBAPIError):
        stalled.execute(sa.text("SELECT 1"))  # the server ended its session
    stalled.invalidate()  # its session is gone on the server; drop it from the pool
    with engine.begin() as other:  # and the row is free for everyone else
        other.execute(row.with_for_update(nowait=True))
    engine.dispose()


def test_a_request_whose_idle_transaction_the_database_cut_off_answers_503_and_the_next_works(
    app_factory, database_url, org, commitment, sign_in, monkeypatch
):
    if not database_url.startswith("postgresql"):
        pytest.skip("idle_in_transaction_session_timeout is PostgreSQL's")
    from handoff.commitments import services

    original = services.locked

    def dawdling(handoff):
        locked = original(handoff)
        time.sleep(1.6)  # idle inside the transaction past the cut-off
        return locked

    monkeypatch.setattr(services, "locked", dawdling)
    # (a cut-off that a busy machine's pauses between one request's statements stay under)
    web = app_factory(DB_IDLE_IN_TRANSACTION_MS=1000)
    client = sign_in(web.test_client(), org.ivo)
    response = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", data={})
    assert response.status_code == 503
    assert fresh(commitment.handoffs[0]).state == "pending"
    monkeypatch.setattr(services, "locked", original)
    assert client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", data={}).status_code == 303
    assert fresh(commitment.handoffs[0]).state == "accepted"


def test_connections_cut_by_the_database_give_503_in_flight_and_the_next_request_works(
    app_factory, database_url, org, commitment, sign_in, monkeypatch
):
    if not database_url.startswith("postgresql"):
        pytest.skip("cutting other sessions' connections is PostgreSQL's (pg_terminate_backend)")
    from handoff.commitments import services

    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")

    def cut_all():
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )

    handoff_id = commitment.handoffs[0].id
    web = app_factory()
    client = sign_in(web.test_client(), org.ivo)

    def state() -> str:  # read on a connection of its own: the test's may be cut as well
        with admin.connect() as conn:
            query = sa.text("SELECT state FROM handoff WHERE id = :id")
            return conn.execute(query, {"id": handoff_id}).scalar()

    assert client.get("/").status_code == 200  # the pool holds a connection now
    cut_all()
    assert client.get("/").status_code == 200  # pre-ping: a fresh connection, no error

    original = services.locked

    def cut_in_flight(handoff):
        locked = original(handoff)
        cut_all()  # the database drops every connection, this request's among them
        return locked

    monkeypatch.setattr(services, "locked", cut_in_flight)
    response = client.post(f"/handoffs/{handoff_id}/accept", data={})
    assert response.status_code == 503
    assert "try again" in response.get_data(as_text=True)
    monkeypatch.setattr(services, "locked", original)
    assert state() == "pending"
    assert client.post(f"/handoffs/{handoff_id}/accept", data={}).status_code == 303
    assert state() == "accepted"
    admin.dispose()
    try:  # the test's own connection was cut too: let the pool forget it
        db.session.rollback()
    except sa.exc.DBAPIError:
        db.session.remove()


def test_a_connection_cut_after_the_page_was_made_still_answers_the_page(
    app_factory, database_url, org, commitment, sign_in
):
    if not database_url.startswith("postgresql"):
        pytest.skip("cutting other sessions' connections is PostgreSQL's (pg_terminate_backend)")
    admin = sa.create_engine(database_url, isolation_level="AUTOCOMMIT")
    page = f"/commitments/{commitment.reference}"
    web = app_factory()
    client = sign_in(web.test_client(), org.ivo)

    @web.after_request
    def cut_all(response):  # the page is made; the database drops its connection now
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        return response

    # ending the request's session on a dead connection must not turn the page into a 500
    assert client.get("/").status_code == 200
    assert client.get(page).status_code == 200
    admin.dispose()
    try:  # the test's own connection was cut too: let the pool forget it
        db.session.rollback()
    except sa.exc.DBAPIError:
        db.session.remove()
