"""The schema is made by migrations, and the migrations match the models."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from handoff.extensions import db


def test_the_migrations_create_exactly_what_the_models_describe(app):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, db.metadata)
    assert differences == []


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
