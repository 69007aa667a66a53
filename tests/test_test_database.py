"""Each test on PostgreSQL starts from a database as fresh as a new one: its tables empty,
its sequences at 1, and the planner told each table is empty (a plan a test reads must not
follow what the tests before it wrote)."""

import sqlalchemy as sa

from conftest import _empty_every_table


def test_an_emptied_database_is_as_a_fresh_one_to_the_planner(pg_url):
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO department (name, name_key, description, created_at) "
            "SELECT 'D' || n, 'd' || n, '', now() FROM generate_series(1, 2000) AS n"
        )
        conn.exec_driver_sql("ANALYZE department")
        pages, rows = conn.exec_driver_sql(
            "SELECT relpages, reltuples FROM pg_class WHERE relname = 'department'"
        ).one()
    assert pages > 0 and rows == 2000  # (what a test before might leave)
    _empty_every_table(pg_url)
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM department").scalar() == 0
        pages, rows = conn.exec_driver_sql(
            "SELECT relpages, reltuples FROM pg_class WHERE relname = 'department'"
        ).one()
        assert pages == 0 and rows <= 0  # (0: none; -1: never counted, a new table's)
        conn.exec_driver_sql(
            "INSERT INTO department (name, name_key, description, created_at) "
            "VALUES ('A', 'a', '', now())"
        )
        assert conn.exec_driver_sql("SELECT max(id) FROM department").scalar() == 1
    engine.dispose()
