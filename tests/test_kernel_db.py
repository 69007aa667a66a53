"""The kernel's database helpers, on SQLite and PostgreSQL alike."""

import contextlib
import multiprocessing
import threading
from datetime import date

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from handoff.departments.models import Department
from handoff.insights.models import DepartmentWeek, RequestWeek
from handoff.kernel.db import db, insert_ignore, writing
from handoff.kernel.tally import add_up, upsert
from handoff.nagging.models import Mailbox


def test_insert_ignore_counts_the_rows_it_wrote_and_leaves_out_the_known(app):
    assert (
        insert_ignore(
            Mailbox, [{"address": "a@x.example"}, {"address": "b@x.example"}], key=["address"]
        )
        == 2
    )
    assert (
        insert_ignore(
            Mailbox, [{"address": "a@x.example"}, {"address": "c@x.example"}], key=["address"]
        )
        == 1
    )
    assert insert_ignore(Mailbox, [{"address": "a@x.example"}], key=["address"]) == 0
    assert insert_ignore(Mailbox, [], key=["address"]) == 0


def test_counts_are_added_up_in_the_transaction_and_written_at_its_commit(org, app):
    """The tally: a row counted twice is one row of parameters, a table one statement at
    the commit, a rollback forgets, and a later transaction adds to what is there."""
    week, other = date(2026, 11, 30), date(2026, 12, 7)
    statements = []

    def seen(conn, cursor, statement, *args):
        if "department_week" in statement and statement.lstrip().upper().startswith("INSERT"):
            statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        with writing():
            add_up(DepartmentWeek, {"week": week, "department_id": org.sales.id}, handoffs=1)
            add_up(DepartmentWeek, {"week": week, "department_id": org.sales.id}, handoffs=2)
            add_up(DepartmentWeek, {"week": other, "department_id": org.sales.id}, handoffs=5)
            db.session.flush()
            assert statements == []  # (nothing is written before the commit)
            db.session.commit()
        assert len(statements) == 1
        with writing():
            add_up(DepartmentWeek, {"week": week, "department_id": org.sales.id}, handoffs=100)
            db.session.rollback()
            add_up(DepartmentWeek, {"week": week, "department_id": org.sales.id}, declined=1)
            db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)
    rows = {
        r.week: (r.handoffs, r.declined)
        for r in db.session.scalars(
            select(DepartmentWeek).execution_options(populate_existing=True)
        )
    }
    assert rows == {week: (3, 1), other: (5, 0)}


def test_an_upsert_keeps_the_first_value_and_the_least_of_the_least_columns(org, app):
    key = {"week": date(2026, 11, 30), "department_id": org.sales.id, "request": "wall mount"}

    def count(ask, notice, minutes):
        upsert(
            RequestWeek,
            key,
            {
                "ask": ask,
                "answered": 1,
                "accepted": 1,
                "least_notice": notice,
                "answer_minutes": minutes,
            },
            added=("answered", "accepted", "answer_minutes"),
            least=("least_notice",),
        )

    with writing():
        count("Wall mount", None, 10)
        count("wall  MOUNT", 300, 20)
        db.session.commit()
    with writing():
        count("WALL MOUNT", 120, 5)
        count("Wall mount", None, 5)
        db.session.commit()
    row = db.session.scalars(select(RequestWeek).execution_options(populate_existing=True)).one()
    assert (row.ask, row.answered, row.least_notice, row.answer_minutes) == (
        "Wall mount",
        4,
        120,
        40,
    )


def test_counts_of_a_transaction_that_ends_without_its_commit_are_not_written_later(org, app):
    key = {"week": date(2026, 11, 30), "department_id": org.sales.id}
    with writing():
        add_up(DepartmentWeek, key, handoffs=7)
        db.session.close()  # (no commit, no rollback asked for)
    with writing():
        add_up(DepartmentWeek, key, declined=1)
        db.session.commit()
    row = db.session.scalars(select(DepartmentWeek).execution_options(populate_existing=True)).one()
    assert (row.handoffs, row.declined) == (0, 1)


def _count_in_a_process(url, first, second, together, errors) -> None:
    """One process's transaction: reminders for `first`, then reminders and escalations for
    `second`, meeting the other process after its first insert into the counts."""
    from handoff import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "x"})
    with app.app_context():
        waited = []

        def meet(conn, cursor, statement, *args):
            # both hold what they wrote first before either goes on (as far as the one order
            # lets them: the second may wait for the first's rows meanwhile)
            first_insert = not waited and statement.lstrip().upper().startswith(
                "INSERT INTO DEPARTMENT_WEEK"
            )
            if first_insert:
                waited.append(True)
                with contextlib.suppress(threading.BrokenBarrierError):
                    together.wait(timeout=3)

        event.listen(db.engine, "before_cursor_execute", meet)
        try:
            with writing():
                add_up(DepartmentWeek, first, reminders=1)
                add_up(DepartmentWeek, second, reminders=1, escalations=1)
                db.session.commit()
        except Exception as error:  # (a deadlock, said by the database)
            errors.put(repr(error)[:300])
            db.session.rollback()


def test_two_processes_counting_the_same_rows_differently_take_them_in_one_order(
    org, app, database_url
):
    """One process counts reminders for Sales then reminders and escalations for
    Installation, the other the reverse, at the same moment: each table's rows are written
    in key order whatever was counted, so neither waits for the other in a circle."""
    if not database_url.startswith("postgresql"):
        pytest.skip("row locks between two processes are PostgreSQL's case")
    week = date(2026, 11, 30)
    sales = {"week": week, "department_id": org.sales.id}
    installation = {"week": week, "department_id": org.installation.id}
    with writing():
        add_up(DepartmentWeek, sales, handoffs=1)
        add_up(DepartmentWeek, installation, handoffs=1)
        db.session.commit()
    spawn = multiprocessing.get_context("spawn")
    together, errors = spawn.Barrier(2), spawn.Queue()
    processes = [
        spawn.Process(target=_count_in_a_process, args=(database_url, one, other, together, errors))
        for one, other in ((sales, installation), (installation, sales))
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=60)
    assert [p.exitcode for p in processes] == [0, 0]
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert found == []
    db.session.rollback()
    rows = {
        r.department_id: (r.handoffs, r.reminders, r.escalations)
        for r in db.session.scalars(
            select(DepartmentWeek).execution_options(populate_existing=True)
        )
    }
    assert rows == {org.sales.id: (1, 2, 1), org.installation.id: (1, 2, 1)}


def test_counts_made_before_any_statement_are_forgotten_by_a_rollback(org, app):
    key = {"week": date(2026, 11, 30), "department_id": org.sales.id}
    sales = org.sales.id
    db.session.commit()  # (no transaction under way now)
    with writing():
        add_up(DepartmentWeek, {**key, "department_id": sales}, handoffs=100)
        db.session.rollback()
        add_up(DepartmentWeek, {**key, "department_id": sales}, declined=1)
        db.session.commit()
    row = db.session.scalars(select(DepartmentWeek).execution_options(populate_existing=True)).one()
    assert (row.handoffs, row.declined) == (0, 1)


def test_hours_and_policies_are_read_once_a_transaction_and_see_its_own_changes(org, app):
    """kept_for_transaction: one query for a department's hours however often a transaction
    asks; a row added, changed or deleted in it is seen at once; the next transaction reads
    anew."""
    from handoff.departments.hours import WorkingHours, hours_of
    from handoff.nagging.models import NagPolicy

    statements = []

    def seen(conn, cursor, statement, *args):
        if "working_hours" in statement or "nag_policy" in statement:
            statements.append(statement)

    department = org.installation.id
    event.listen(db.engine, "before_cursor_execute", seen)
    try:
        for _ in range(3):
            hours_of(department)
            NagPolicy.for_department(department)
        WorkingHours.organisation()  # (read with the department's)
        NagPolicy.organisation()
        assert len(statements) == 2
        assert hours_of(department).start.isoformat() == "08:00:00"

        own = WorkingHours(department_id=department, time_zone="Europe/Berlin", day_start="06:00")
        db.session.add(own)
        assert hours_of(department).start.isoformat() == "06:00:00"  # added: written, read anew
        own.day_start = "07:00"
        assert hours_of(department).start.isoformat() == "07:00:00"  # changed: the same row
        db.session.delete(own)
        assert hours_of(department).start.isoformat() == "08:00:00"  # deleted: gone
        db.session.rollback()

        statements.clear()
        hours_of(department)
        assert len(statements) == 1  # a new transaction asks again
    finally:
        event.remove(db.engine, "before_cursor_execute", seen)


@pytest.fixture
def ending(app_factory, org):
    """An app with views that read, or change things and return without committing; and
    how each request's transaction ended (COMMIT or ROLLBACK)."""
    from flask import g

    from handoff.departments.models import Department

    web = app_factory()
    ends = []

    def read():
        return str(len(db.session.scalars(select(Department)).all()))

    def change_orm():
        db.session.get(Department, org.sales.id).description = "changed, not committed"
        return "ok"

    def change_flushed():
        change_orm()
        db.session.flush()
        return "ok"

    def change_core():
        db.session.execute(
            sa.update(Department).where(Department.id == org.sales.id).values(description="core")
        )
        return "ok"

    def count():
        add_up(
            DepartmentWeek, {"week": date(2026, 11, 30), "department_id": org.sales.id}, handoffs=1
        )
        return "ok"

    def fail():
        read()
        g.failing = True
        raise RuntimeError("the view failed")

    for view in (read, change_orm, change_flushed, change_core, count, fail):
        web.add_url_rule(f"/t/{view.__name__}", view.__name__, view)
    with web.app_context():
        event.listen(db.engine, "commit", lambda conn: ends.append("COMMIT"))
        event.listen(db.engine, "rollback", lambda conn: ends.append("ROLLBACK"))
    web.config["PROPAGATE_EXCEPTIONS"] = False
    return web.test_client(), ends


@pytest.mark.parametrize(
    "view, end",
    [
        ("read", "COMMIT"),
        ("change_orm", "ROLLBACK"),
        ("change_flushed", "ROLLBACK"),
        ("change_core", "ROLLBACK"),
        ("count", "ROLLBACK"),
        ("fail", "ROLLBACK"),
    ],
)
def test_a_request_that_only_read_ends_with_commit_and_anything_unwritten_is_rolled_back(
    ending, org, app, view, end
):
    """On PostgreSQL a rollback drops the connection's prepared statements: a request that
    only read commits instead. Whatever a request changed without committing it, through the
    unit of work or a statement of its own, is still rolled back."""
    client, ends = ending
    client.get(f"/t/{view}")
    assert ends[-1:] == [end]
    db.session.rollback()
    assert db.session.get(Department, org.sales.id).description == ""
    assert db.session.scalars(select(DepartmentWeek)).all() == []


def test_a_page_that_only_reads_keeps_its_prepared_statements_on_postgresql(ending, app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    client, _ = ending
    for _ in range(7):  # (psycopg prepares a statement on its fifth run)
        client.get("/t/read")
    with ending[0].application.app_context():
        prepared = db.session.execute(sa.text("SELECT count(*) FROM pg_prepared_statements"))
        assert prepared.scalar() >= 1
