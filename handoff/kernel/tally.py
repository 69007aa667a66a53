"""Counters kept in the transaction and written at its commit: one statement a table.

A verb or a sweep that counts (`add_up`, `upsert`) adds to a tally held by the session; just
before the transaction commits, each table's rows are written as one INSERT … ON CONFLICT DO
UPDATE with every row as its parameters (`n = n + excluded.n`), so that two transactions may
count the same row at once without losing a count, on both databases. A round of the sweep
that records a hundred reminders writes its counts in two statements instead of four
hundred; the rows are written in key order, so that two committers never wait for each
other in a circle. A rollback forgets the tally with everything else.

What is counted is not readable in the transaction that counts it (nothing reads it there:
the figures are read by pages, after the commit).
"""

from collections.abc import Callable
from functools import cache

from sqlalchemy import event, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

_TALLY = "tally.rows"
_preparers: list[Callable[[Session], None]] = []


def add_up(model, key: dict, **amounts: int) -> None:
    """Add `amounts` to the counters of the row `key` names, making the row when there is
    none (written at the commit)."""
    upsert(model, key, amounts, added=tuple(amounts))


def upsert(model, key: dict, values: dict, added=(), least=()) -> None:
    """Make the row `key` names with `values`, or, when it is there, add the `added` columns
    to it and keep the least of the `least` ones (a NULL is no value); other columns keep
    what they have (written at the commit)."""
    from handoff.kernel.db import db

    rows = db.session.info.setdefault(_TALLY, {})
    shape = (model, tuple(key), tuple(values), tuple(added), tuple(least))
    held = rows.setdefault(shape, {})
    ident = tuple(key.values())
    if ident not in held:
        held[ident] = dict(values)
        return
    row = held[ident]
    for name in added:
        row[name] = (row[name] or 0) + (values[name] or 0)
    for name in least:
        row[name] = _least(row[name], values[name])


def before_writing(prepare: Callable[[Session], None]) -> Callable[[Session], None]:
    """Register `prepare(session)`, called at each commit before the tally is written (to add
    what it gathered in the transaction, say)."""
    _preparers.append(prepare)
    return prepare


def _order(ident: tuple) -> tuple:
    """A row's place in the order rows are written in (None first)."""
    return tuple((value is not None, value) for value in ident)


def _least(a, b):
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


@event.listens_for(Session, "before_commit")
def _write(session: Session) -> None:
    for prepare in _preparers:
        prepare(session)
    rows = session.info.pop(_TALLY, None)
    if not rows:
        return
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    for shape in sorted(rows, key=lambda s: (s[0].__tablename__, s[1:])):
        key, held = shape[1], rows[shape]
        parameters = [
            {**dict(zip(key, ident, strict=True)), **held[ident]}
            for ident in sorted(held, key=_order)
        ]
        connection.execute(_statement(dialect, *shape), parameters)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A transaction that ends without its commit (a rollback, a close) takes its counts
    with it: none is written by the next one."""
    if transaction.parent is None:
        session.info.pop(_TALLY, None)


@cache
def _statement(dialect: str, model, key: tuple, names: tuple, added: tuple, least: tuple):
    """The one upsert of `model`'s rows of this shape, built once (its rows are parameters)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    table = model.__table__
    statement = insert(table)
    new = statement.excluded
    smallest = func.least if dialect == "postgresql" else func.min
    changes = {name: table.c[name] + new[name] for name in added}
    for name in least:
        old = table.c[name]
        changes[name] = smallest(func.coalesce(old, new[name]), func.coalesce(new[name], old))
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)
