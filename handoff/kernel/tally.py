"""Counters kept in the transaction and written at its commit: one statement a table.

A verb or a sweep that counts (`add_up`, `upsert`) adds to a tally held by the session; just
before the transaction commits, each table's rows are written as one INSERT … ON CONFLICT DO
UPDATE with every row as its parameters (`n = n + excluded.n`), so that two transactions may
count the same row at once without losing a count, on both databases. A round of the sweep
that records a hundred reminders writes its counts in a statement a table instead of a
statement a count. Every row of a table is written in one order, the key's (the counters a
transaction touched are one set for the whole table, those a row did not count being 0),
and the tables in name order, so that two committers take the same rows in the same order
and never wait for each other in a circle. What the transaction has not flushed yet is
flushed first, so that the counted rows are locked last and for the shortest time.

Counting begins the transaction if none has begun, and a transaction that ends without its
commit (a rollback, a close) takes its counts with it. A savepoint's release writes nothing
(the counts wait for the transaction's own commit), and a savepoint's rollback does not take
back what was counted inside it: nothing counts inside one.

What is counted is not readable in the transaction that counts it (nothing reads it there:
the figures are read by pages, after the commit).
"""

from collections.abc import Callable
from functools import cache

from sqlalchemy import event, func
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from handoff.kernel.db import db, written_at_commit

_COUNTS = "tally.counts"  # (model, key columns) → {key values: {counter: amount}}
_ROWS = "tally.rows"  # (model, key, value columns, added, least) → {key values: values}
_preparers: list[Callable[[Session], None]] = []
written_at_commit(_COUNTS, _ROWS)


def add_up(model, key: dict, **amounts: int) -> None:
    """Add `amounts` to the counters of the row `key` names, making the row when there is
    none (written at the commit)."""
    counts = _tally(_COUNTS).setdefault((model, tuple(key)), {})
    row = counts.setdefault(tuple(key.values()), {})
    for name, amount in amounts.items():
        row[name] = row.get(name, 0) + (amount or 0)


def upsert(model, key: dict, values: dict, added=(), least=()) -> None:
    """Make the row `key` names with `values`, or, when it is there, add the `added` columns
    to it and keep the least of the `least` ones (a NULL is no value); other columns keep
    what they have (written at the commit). A table is counted by this or by add_up, not
    both (each way is written in key order, one after the other)."""
    shape = (model, tuple(key), tuple(values), tuple(added), tuple(least))
    held = _tally(_ROWS).setdefault(shape, {})
    ident = tuple(key.values())
    if ident not in held:
        held[ident] = dict(values)
        return
    row = held[ident]
    for name in added:
        row[name] = (row[name] or 0) + (values[name] or 0)
    for name in least:
        row[name] = _least(row[name], values[name])


def before_writing(*keys: str):
    """Register `prepare(session)`, called at each commit before the tally is written (to add
    what it gathered in the transaction under these keys of the session's info, say)."""

    def register(prepare: Callable[[Session], None]) -> Callable[[Session], None]:
        _preparers.append(prepare)
        written_at_commit(*keys)
        return prepare

    return register


def _tally(name: str) -> dict:
    """This transaction's tally of one kind (the transaction begun if it was not, so that its
    end, however it ends, forgets the tally)."""
    session = db.session()
    session.connection()
    return session.info.setdefault(name, {})


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
    if session.in_nested_transaction():
        return  # (a savepoint released: the counts wait for the transaction's commit)
    for prepare in _preparers:
        prepare(session)
    counts = session.info.pop(_COUNTS, None) or {}
    rows = session.info.pop(_ROWS, None) or {}
    if not counts and not rows:
        return
    session.flush()
    dialect = session.get_bind().dialect.name
    connection = session.connection()
    statements = []
    for (model, key), held in counts.items():
        names = tuple(sorted({name for row in held.values() for name in row}))
        parameters = [
            {**dict(zip(key, ident, strict=True)), **dict.fromkeys(names, 0), **held[ident]}
            for ident in sorted(held, key=_order)
        ]
        statements.append((model.__tablename__, 0, (model, key, names, names, ()), parameters))
    for shape, held in rows.items():
        key = shape[1]
        parameters = [
            {**dict(zip(key, ident, strict=True)), **held[ident]}
            for ident in sorted(held, key=_order)
        ]
        statements.append((shape[0].__tablename__, 1, shape, parameters))
    for _, _, shape, parameters in sorted(statements, key=lambda s: (s[0], s[1], repr(s[2][1:]))):
        connection.execute(_statement(dialect, *shape), parameters)


@event.listens_for(Session, "after_transaction_end")
def _forget(session: Session, transaction) -> None:
    """A transaction that ends without its commit (a rollback, a close) takes its counts
    with it: none is written by the next one."""
    if transaction.parent is None:
        session.info.pop(_COUNTS, None)
        session.info.pop(_ROWS, None)


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
