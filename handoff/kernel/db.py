"""Database plumbing shared by every model: UTC datetimes and SQLite tuned for a web server.

SQLite runs in WAL mode with foreign keys on and a busy timeout. A transaction that will
write (any request that is not GET/HEAD/OPTIONS, or code inside `writing()`) starts with
BEGIN IMMEDIATE, so two writers queue for the lock up front instead of one failing with
"database is locked" half-way through. Reads begin deferred and never block writers; so
does what a request reads after `commit_writes()`, to show what it did.
"""

import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC

from flask import current_app, g, has_request_context, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import DateTime, MetaData, event, select, text
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Session
from sqlalchemy.types import TypeDecorator

try:
    import fcntl
except ImportError:  # (not a POSIX system: SQLite's own lock alone orders the writers)
    fcntl = None

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# How long a SQLite writer waits for its turn before it is told "busy, try again".
SQLITE_BUSY_TIMEOUT_MS = 10_000
# How often a SQLite writer waiting for its turn looks again.
TURN_POLL_SECONDS = 0.0003
# The largest id or count both databases hold in an INTEGER column (32 bits).
MAX_INT = 2**31 - 1
_writing: ContextVar[bool] = ContextVar("handoff_writing", default=False)

# Named constraints, so that later migrations can alter them (SQLite needs names for that).
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


# The one database object, created unbound and bound to the app in create_app.
db = SQLAlchemy(model_class=Base)


class UTCDateTime(TypeDecorator):
    """A datetime stored in UTC and always handed back timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass an aware datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


@contextmanager
def writing() -> Iterator[None]:
    """Mark the transactions begun inside this block as writers (BEGIN IMMEDIATE on SQLite)."""
    token = _writing.set(True)
    try:
        yield
    finally:
        _writing.reset(token)


def _wants_write_lock() -> bool:
    if _writing.get():
        return True
    if not has_request_context() or g.get("_written"):
        return False
    if _reading_first():
        return False  # (a writer from its first row lock on: lock_row)
    return request.method not in SAFE_METHODS


def reads_first(view):
    """A view that reads (who asks, what about, whether the form holds) before it takes a
    row lock to write: on SQLite its request holds the write lock from its first lock_row
    to its commit, not from its first query, so that two people answering at once wait on
    each other for the change alone. Every decision is made again under the lock (locked).
    Put it next to the route, outside every other decorator."""
    view.reads_first = True
    return view


@event.listens_for(Session, "after_flush")
def _note_written(session, flush_context) -> None:
    session.info["flushed"] = True  # (what lock_row asks: has this transaction written?)


@event.listens_for(Session, "after_transaction_end")
def _forget_written(session, transaction) -> None:
    if transaction.parent is None:
        session.info.pop("flushed", None)


def kept_for_transaction(key, make, *, unless: tuple[type, ...]):
    """What `make()` answers, asked once in the session's transaction and kept until it ends
    (a department's hours and policy, asked by several reactions to one answer). `make` reads
    rows of the types in `unless` alone: what else the transaction changed is not written
    before it asks (a verb's changes are written once, at its end), while rows of those types
    added or deleted are, and what was kept is then forgotten (it may not hold them). A kept
    row that is changed is the same object, and says so."""
    session = db.session()
    if any(isinstance(row, unless) for row in (*session.new, *session.deleted)):
        session.flush()
    kept = session.info.setdefault("kept_for_transaction", {})
    if key not in kept:
        with session.no_autoflush:
            kept[key] = (make(), unless)
    return kept[key][0]


@event.listens_for(Session, "before_flush")
def _forget_kept_rows_added_or_deleted(session, flush_context, instances) -> None:
    kept = session.info.get("kept_for_transaction")
    if not kept or not (session.new or session.deleted):
        return
    changed = {type(row) for row in (*session.new, *session.deleted)}
    for key, (_, unless) in list(kept.items()):
        if any(issubclass(kind, unless) for kind in changed):
            del kept[key]


@event.listens_for(Session, "after_transaction_end")
def _forget_kept(session, transaction) -> None:
    session.info.pop("kept_for_transaction", None)  # (a savepoint's end too: rows may be gone)


def _reading_first() -> bool:
    """Whether this request's view reads first and has taken no row lock yet."""
    if not has_request_context() or g.get("_locking") or request.endpoint is None:
        return False
    return getattr(current_app.view_functions.get(request.endpoint), "reads_first", False)


def commit_writes() -> None:
    """Commit what the request changed. What it reads afterwards to show the result begins
    as a reader (on SQLite: no write lock held while the answer is rendered)."""
    commit_keeping_reader(db.session())
    if has_request_context():
        g._written = True


def commit_keeping_reader(session: Session) -> None:
    """Commit. Everything the session read is read again when next used, as after any
    commit, but the signed-in person and their memberships: the rights the request was let
    in on are those it keeps to its end, and are read once a request."""
    person = g.get("_login_user") if has_request_context() else None
    state = sa_inspect(person, raiseerr=False) if person is not None else None
    if state is None or state.session is not session:
        session.commit()
        return
    kept = {id(person)}
    for value in state.dict.values():  # (the collections loaded with it: its memberships)
        if isinstance(value, list):
            kept.update(id(row) for row in value)
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
    for row in list(session.identity_map.values()):
        if id(row) not in kept:
            session.expire(row)


class SQLiteConnection(sqlite3.Connection):
    """A SQLite connection whose writers take turns through a lock file beside the database.

    A writer that finds SQLite's write lock taken sleeps and looks again (1, 2, 5, 10 ms …),
    so two web workers answering at once spent a good part of their time asleep while the
    lock was free. Before its BEGIN IMMEDIATE a writer takes `<database>-writer` (an exclusive
    flock, looked at again every TURN_POLL_SECONDS), and lets it go as its COMMIT or ROLLBACK
    ends: the next writer starts within a fraction of a millisecond. SQLite's lock still
    decides who writes; the file only orders who asks. A process that dies lets go of it with
    its files; one that freezes holds it, as it holds SQLite's lock, until the waiters' busy
    timeout tells them "try again".
    """

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        name = str(database)
        in_memory = name == ":memory:" or name.startswith("file:") or not name
        self._turn_path = None if in_memory or fcntl is None else name + "-writer"
        self._turn_fd: int | None = None
        self._turn_pid = 0  # (the process that opened it: a child of a fork opens its own)
        self._has_turn = False

    def take_turn(self) -> bool:
        """Wait for this connection's turn to write; False when the busy timeout passed.
        A lock file that cannot be opened (another account made it, the folder is read-only)
        leaves the writers to SQLite's own lock, as before there were turns."""
        if self._turn_path is None:
            return True
        if self._turn_fd is None or self._turn_pid != os.getpid():
            try:  # (read-only is enough for a lock, and any account that reads the database can)
                self._turn_fd = os.open(self._turn_path, os.O_RDONLY | os.O_CREAT, 0o666)
            except OSError:
                self._turn_path = None
                return True
            self._turn_pid = os.getpid()
        deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(TURN_POLL_SECONDS)
            else:
                self._has_turn = True
                return True

    def _end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            if self._turn_pid == os.getpid():  # (a forked child's copy is its parent's turn)
                fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._end_turn()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._end_turn()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._end_turn()
            if self._turn_fd is not None and self._turn_pid == os.getpid():
                os.close(self._turn_fd)
            self._turn_fd = None


@event.listens_for(Engine, "connect")
def _configure_sqlite(dbapi_connection, connection_record):
    if not isinstance(dbapi_connection, sqlite3.Connection):
        return
    # Let SQLAlchemy's "begin" event below issue BEGIN itself.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    # The log is copied into the database every 10,000 pages (40 MB) rather than every 1,000:
    # a nagger's round of 10,000 reminders commits a hundred batches that touch the same index
    # pages, and each checkpoint wrote them again (3.0 s of its commits; 1.7 s now).
    cursor.execute("PRAGMA wal_autocheckpoint=10000")
    cursor.close()


@event.listens_for(Engine, "begin")
def _begin(conn):
    conn.info.pop("wrote", None)  # (what this transaction writes: _note_writing)
    if conn.dialect.name != "sqlite":
        return
    if not _wants_write_lock():
        conn.exec_driver_sql("BEGIN")
        return
    dbapi_connection = conn.connection.dbapi_connection
    if not isinstance(dbapi_connection, SQLiteConnection) or dbapi_connection.take_turn():
        conn.exec_driver_sql("BEGIN IMMEDIATE")
        return
    # The turn did not come within the busy timeout (a writer frozen with it): SQLite's lock
    # is asked once more without waiting, and most likely answers "database is locked".
    conn.exec_driver_sql("PRAGMA busy_timeout=0")
    try:
        conn.exec_driver_sql("BEGIN IMMEDIATE")
    finally:
        conn.exec_driver_sql(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def end_session(error: BaseException | None = None) -> None:
    """End this context's session (the app runs it when a request or command ends).

    A connection the database cut after the last query, while the page was being sent or
    after the commit, fails the closing rollback. What was done stands and nothing is left to
    roll back: the session is forgotten (the pool has dropped the dead connection) instead of
    turning a finished answer into a 500.
    """
    try:
        if error is None:
            _commit_if_it_only_read()
        db.session.remove()
    except SQLAlchemyError:
        db.session.registry.clear()


# The keys of a session's info under which a transaction holds what its commit will write.
_WRITTEN_AT_COMMIT: list[str] = []


def written_at_commit(*keys: str) -> None:
    """Name keys of the session's info under which a transaction gathers what its commit
    writes (a tally's counts): a transaction holding any is not one that only read."""
    _WRITTEN_AT_COMMIT.extend(keys)


# What a statement that changes nothing begins with (anything else counts as a write).
_READING = ("SELECT", "BEGIN", "PRAGMA", "SHOW")


@event.listens_for(Engine, "before_cursor_execute")
def _note_writing(conn, cursor, statement, parameters, context, executemany) -> None:
    if not statement.lstrip()[:6].upper().startswith(_READING):
        conn.info["wrote"] = True


def _commit_if_it_only_read() -> None:
    """A transaction that wrote nothing and holds nothing to write ends with COMMIT rather
    than ROLLBACK (the same for the database): on PostgreSQL a rollback also drops every
    statement the connection had prepared (psycopg prepares a statement run five times, and
    the database then plans it once), so that a page that only reads planned its joins anew
    on every request."""
    session = db.session()
    if not session.in_transaction() or session.new or session.dirty or session.deleted:
        return
    if session.info.get("flushed") or any(session.info.get(k) for k in _WRITTEN_AT_COMMIT):
        return
    if session.connection().info.get("wrote"):
        return
    session.commit()


@contextmanager
def transaction() -> Iterator[None]:
    """Write in a transaction of its own, committed at the end and rolled back on an error.

    Whatever the session read before ends first (its snapshot, not its pending changes), and
    on SQLite the transaction begins as a writer (BEGIN IMMEDIATE): a transaction that read
    first and writes later fails at once if another connection wrote in between.
    """
    db.session.commit()
    with writing():
        try:
            yield
            db.session.commit()
        except BaseException:
            db.session.rollback()
            raise


def lock_row(model, ident) -> None:
    """Take the row's lock until the transaction ends (PostgreSQL: FOR NO KEY UPDATE, which
    excludes every other writer of the row but lets foreign-key checks of inserts through;
    SQLite: the write transaction holds the database already).

    The lock is a bare `SELECT key … FOR UPDATE`: PostgreSQL rechecks a locked row that
    changed meanwhile against the other tables of the query as they were, so a locking query
    with joins can silently lose the row.
    """
    if _reading_first():
        g._locking = True
        session = db.session()
        written = session.new or session.dirty or session.deleted or session.info.get("flushed")
        if db.engine.dialect.name == "sqlite" and not written:
            commit_keeping_reader(session)  # the reading ends: the lock begins a writer
    key = _key(model)
    db.session.execute(select(key).where(key == ident).with_for_update(key_share=True))


def locked(thing):
    """`thing` read again under its row lock: decided on the latest committed state."""
    lock_row(type(thing), sa_inspect(thing).identity[0])
    db.session.refresh(thing)
    return thing


def locked_row(model, ident):
    """The row with this key read under its lock as it is now, or None if there is none."""
    lock_row(model, ident)
    return db.session.get(model, ident, populate_existing=True)


def lock_keys(model, ids) -> None:
    """Lock the rows of `model` with these keys, in key order (so that two lockers never wait
    on each other in a circle)."""
    key = _key(model)
    ordered = sorted(ids)
    for start in range(0, len(ordered), 500):  # bounded IN lists, still in key order
        chunk = ordered[start : start + 500]
        db.session.execute(
            select(key).where(key.in_(chunk)).order_by(key).with_for_update(key_share=True)
        )


def skip_locked(query):
    """`query` taking its rows' locks, leaving out rows another transaction holds: how
    several sweepers and senders share work (PostgreSQL: FOR NO KEY UPDATE SKIP LOCKED;
    SQLite: the write transaction holds the database already)."""
    return query.with_for_update(skip_locked=True, key_share=True)


def _key(model):
    """The model's one-column primary key."""
    (column,) = sa_inspect(model).primary_key
    return getattr(model, column.key)


def hold_keys(*keys: str) -> None:
    """Take a lock on each named key until the transaction ends, so that transactions about
    the same key take turns (PostgreSQL: advisory locks, taken in one order so two holders
    never wait for each other; SQLite: the write transaction holds the database already)."""
    if db.engine.dialect.name != "postgresql":
        return
    for key in sorted(set(keys)):
        db.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": key}
        )


def insert_ignore(model, rows: list[dict], key: list[str]) -> int:
    """Insert the rows; one whose `key` is there already is left out, not an error. Answer how
    many were new (0: someone else wrote these first)."""
    return len(insert_new(model, rows, key))


def insert_new(model, rows: list[dict], key: list[str]) -> set[tuple]:
    """Insert the rows, leaving out those whose `key` is there already (not an error); answer
    the keys of the rows written."""
    if not rows:
        return set()
    insert = pg_insert if db.engine.dialect.name == "postgresql" else sqlite_insert
    # One statement with the rows as parameters, compiled once for every call (a VALUES list
    # written into it would be a new statement each time); the keys of what was written come
    # back, which both databases give for many rows at once (a row count does not).
    columns = [getattr(model, name) for name in key]
    statement = (
        insert(model)
        .on_conflict_do_nothing(
            index_elements=key, index_where=_partial_key_where(model, tuple(key))
        )
        .returning(*columns)
    )
    return {tuple(row) for row in db.session.connection().execute(statement, rows)}


def _partial_key_where(model, key: tuple[str, ...]):
    """The condition of the unique index on `key` when it is a partial one (a conflict names
    it so that the database knows which index it means), else None."""
    for index in model.__table__.indexes:
        if index.unique and tuple(column.name for column in index.columns) == key:
            return index.dialect_options[db.engine.dialect.name].get("where")
    return None
