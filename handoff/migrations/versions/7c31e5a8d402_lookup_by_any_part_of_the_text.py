"""the lookup finds customers and promises by any part of their text through an index:
FTS5 trigram tables on SQLite, pg_trgm GIN indexes on PostgreSQL (handoff.kernel.search)

Revision ID: 7c31e5a8d402
Revises: 5b0a4d2c9e71
Create Date: 2026-12-06 05:20:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '7c31e5a8d402'
down_revision = '5b0a4d2c9e71'
branch_labels = None
depends_on = None

SEARCHED = {
    "customer": ("name", "email", "phone_digits", "account_ref"),
    "commitment": ("title",),
}


def _sqlite_search(table: str, columns: tuple[str, ...]) -> None:
    """An external-content FTS5 table over `columns`, kept by triggers, filled now."""
    names = ", ".join(columns)
    new = ", ".join(f"new.{c}" for c in columns)
    old = ", ".join(f"old.{c}" for c in columns)
    index = f"search_{table}"
    op.execute(
        f"CREATE VIRTUAL TABLE {index} USING fts5({names}, content='{table}', "
        "content_rowid='id', tokenize='trigram')"
    )
    op.execute(
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN "
        f"INSERT INTO {index}(rowid, {names}) VALUES (new.id, {new}); END"
    )
    op.execute(
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN "
        f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old}); END"
    )
    op.execute(
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF {names} ON {table} BEGIN "
        f"INSERT INTO {index}({index}, rowid, {names}) VALUES ('delete', old.id, {old}); "
        f"INSERT INTO {index}(rowid, {names}) VALUES (new.id, {new}); END"
    )
    op.execute(f"INSERT INTO {index}({index}) VALUES ('rebuild')")


def upgrade():
    if op.get_bind().dialect.name == "sqlite":
        for table, columns in SEARCHED.items():
            _sqlite_search(table, columns)
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in SEARCHED.items():
        for column in columns:
            # (a trigram index serves LIKE and ILIKE, which is how text is searched)
            op.execute(
                f"CREATE INDEX search_{table}_{column} ON {table} USING gin ({column} gin_trgm_ops)"
            )


def downgrade():
    if op.get_bind().dialect.name == "sqlite":
        for table in SEARCHED:
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER search_{table}_{trigger}")
            op.execute(f"DROP TABLE search_{table}")
        return
    for table, columns in SEARCHED.items():
        for column in columns:
            op.execute(f"DROP INDEX search_{table}_{column}")
