"""The schema is made by migrations, and the migrations match the models."""

import os
import re

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import upgrade
from sqlalchemy import inspect

from handoff import create_app
from handoff.kernel.db import db
from handoff.kernel.search import is_search_structure

from conftest import PG_ENV, empty_pg_database


def test_the_migrations_create_exactly_what_the_models_describe(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda *a: not is_search_structure(*a),
            },
        )
        differences = compare_metadata(context, db.metadata)
    assert differences == []


def test_every_partial_index_has_the_condition_its_model_names(app):
    """The comparison above does not compare an index's condition; a conflict names it
    (kernel.db insert_new) and the database refuses one that is not its index's."""
    dialect = db.engine.dialect.name
    inspector = inspect(db.engine)

    def plain(condition) -> str | None:
        """The condition as both databases write it back: no brackets, spaces or casts."""
        if condition is None:
            return None
        written = re.sub(r"::\w+|[()\s]", "", str(condition)).lower()
        return written.replace("<>", "!=")

    partial = 0
    for table in db.metadata.sorted_tables:
        made = {
            found["name"]: plain(found.get("dialect_options", {}).get(f"{dialect}_where"))
            for found in inspector.get_indexes(table.name)
        }
        for index in table.indexes:
            wanted = plain(index.dialect_options[dialect].get("where"))
            assert made.get(index.name, "no such index") == wanted, index.name
            partial += wanted is not None
    assert partial >= 4  # the reminder rows' at least: waiting ones, and those about tasks


def test_the_tables_are_the_domains_words(app):
    tables = set(inspect(db.engine).get_table_names())
    assert {
        "commitment",
        "handoff",
        "timeline_event",
        "comment",
        "customer",
        "department",
    } <= tables


def test_sqlite_is_set_up_for_a_web_server(app):
    if db.engine.dialect.name != "sqlite":
        return
    with db.engine.connect() as connection:
        pragma = connection.exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA foreign_keys").scalar() == 1
        assert pragma("PRAGMA busy_timeout").scalar() == 10000
        assert pragma("PRAGMA wal_autocheckpoint").scalar() == 10000


@pytest.fixture
def empty_database_url(tmp_path):
    """A database with no tables at all (PostgreSQL when the tests run on it)."""
    pg_url = os.environ.get(PG_ENV)
    if not pg_url:
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    name = f"handoff_empty_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    yield empty_pg_database(pg_url, name)
    empty_pg_database(pg_url, name, drop=True)


def test_upgrading_keeps_departments_whose_names_fold_alike_apart_and_ends_old_sessions(
    empty_database_url,
):
    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_database_url, "TESTING": True})
    directory = app.root_path + "/migrations"
    with app.app_context():
        upgrade(directory=directory, revision="1cb85f79c8a8")  # before name keys and tokens
        with db.engine.begin() as conn:
            for name in ("Ärger", "ärger", "Sales"):
                conn.execute(
                    sa.text(
                        "INSERT INTO department (name, description, created_at) "
                        "VALUES (:name, '', CURRENT_TIMESTAMP)"
                    ),
                    {"name": name},
                )
            for email in ("a@example.com", "b@example.com"):
                conn.execute(
                    sa.text(
                        "INSERT INTO person (name, email, password_hash, is_admin, active, "
                        "created_at) VALUES ('P', :email, 'x', false, true, CURRENT_TIMESTAMP)"
                    ),
                    {"email": email},
                )
        upgrade(directory=directory)
        with db.engine.connect() as conn:
            names = conn.execute(sa.text("SELECT name, name_key FROM department ORDER BY id"))
            tokens = conn.execute(sa.text("SELECT session_token FROM person")).scalars().all()
        assert names.all() == [("Ärger", "ärger"), ("ärger (2)", "ärger (2)"), ("Sales", "sales")]
        assert len(set(tokens)) == 2 and all(len(t) == 32 for t in tokens)
        db.engine.dispose()


def test_the_latest_migrations_upgrade_a_database_with_rows_in_every_table(tmp_path):
    """A database in use is upgraded as an empty one is: a row in every table (each
    referring to the first of the others), then the migrations since the one before people
    away run over it (on SQLite a table copied and dropped would break the references)."""
    url = os.environ.get(PG_ENV) and empty_pg_database(os.environ[PG_ENV], "upgrade_rows")
    url = url or f"sqlite:///{tmp_path / 'in-use.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.root_path + "/migrations", revision="f2a7c4e9b1d3")
        meta = sa.MetaData()
        meta.reflect(bind=db.engine)
        with db.engine.begin() as connection:
            for table in meta.sorted_tables:
                if table.name == "alembic_version" or is_search_structure(table.name, "table", {}):
                    continue
                connection.execute(table.insert().values(_a_row(table)))
        upgrade(directory=app.root_path + "/migrations")
        with db.engine.connect() as connection:
            assert connection.execute(sa.text("SELECT count(*) FROM handoff")).scalar() == 1
            assert connection.execute(sa.text("SELECT count(*) FROM week_figures")).scalar() == 1
        db.engine.dispose()


def _a_row(table) -> dict:
    """Values for every column of a table: ids 1 (each reference names the first row)."""
    from datetime import UTC, date, datetime

    row = {}
    for column in table.columns:
        try:
            kind = column.type.python_type
        except NotImplementedError:
            kind = dict
        if kind in (int, float):
            row[column.name] = 1
        elif kind is bool:
            row[column.name] = False
        elif kind is datetime:
            row[column.name] = datetime(2026, 5, 11, 9, tzinfo=UTC)
        elif kind is date:
            row[column.name] = date(2026, 5, 11)
        elif kind is dict or kind is list:
            row[column.name] = None if column.nullable else {}
        elif kind.__name__ == "Decimal":
            row[column.name] = 1
        else:
            row[column.name] = (
                "pending" if column.name == "state" else f"{table.name}-{column.name}"
            )
            length = getattr(column.type, "length", None)
            row[column.name] = row[column.name][:length] if length else row[column.name]
    if table.name == "nag":
        row["task_id"] = None  # (a reminder is about a handoff or a task, not both)
    return row
