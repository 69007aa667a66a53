"""SQLite writers take turns through a lock file beside the database (kernel.db.SQLiteConnection):
held from BEGIN IMMEDIATE to COMMIT or ROLLBACK, never by a reader, and a turn that does not
come within the busy timeout ends as SQLite's own "database is locked"."""

import fcntl
import time

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from handoff.kernel import db as kernel_db
from handoff.kernel.db import db, writing


@pytest.fixture
def turn_path(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("the writers' turns are SQLite's")
    return db.engine.url.database + "-writer"


def _taken(path) -> bool:
    """Whether another holder has the turn (asked from a file of our own, without waiting)."""
    with open(path, "a") as other:
        try:
            fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(other, fcntl.LOCK_UN)
        return False


@pytest.mark.parametrize("end", ["commit", "rollback", "close"])
def test_a_writer_holds_the_turn_until_its_transaction_ends(app, turn_path, end):
    with writing():
        db.session.execute(text("UPDATE department SET name = name"))
    assert _taken(turn_path)
    getattr(db.session, end)()
    assert not _taken(turn_path)


def test_a_reader_takes_no_turn(app, turn_path):
    db.session.execute(text("SELECT count(*) FROM department")).scalar()
    assert db.session().in_transaction()
    assert not _taken(turn_path)


def test_a_turn_held_by_someone_who_does_not_write_lets_the_writer_through_after_the_timeout(
    app, turn_path, monkeypatch
):
    monkeypatch.setattr(kernel_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    with open(turn_path, "a") as frozen:
        fcntl.flock(frozen, fcntl.LOCK_EX)
        started = time.monotonic()
        with writing():
            db.session.execute(text("UPDATE department SET name = name"))
        waited = time.monotonic() - started
        # SQLite's own wait is as it was (asked once without it)
        assert db.session.execute(text("PRAGMA busy_timeout")).scalar() == 200
        db.session.commit()
    assert 0.2 <= waited < 2


def test_a_writer_frozen_with_the_turn_makes_the_next_one_busy_not_stuck(
    app, turn_path, database_url, monkeypatch
):
    import sqlite3

    monkeypatch.setattr(kernel_db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    frozen = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    with open(turn_path, "a") as turn:
        fcntl.flock(turn, fcntl.LOCK_EX)  # a writer that took its turn and the database,
        frozen.execute("BEGIN IMMEDIATE")  # then stopped
        started = time.monotonic()
        with pytest.raises(OperationalError, match="locked"), writing():
            db.session.execute(text("UPDATE department SET name = name"))
        assert time.monotonic() - started < 2  # the turn's wait, not SQLite's 10 s more
        db.session.rollback()
        frozen.rollback()
    frozen.close()
    with writing():  # and once it is gone, writing goes on
        db.session.execute(text("UPDATE department SET name = name"))
    db.session.commit()


def test_a_lock_file_that_cannot_be_opened_leaves_the_writers_to_sqlites_lock(
    app, turn_path, monkeypatch
):
    """Another account made it, or the folder is read-only: writing goes on as before."""
    import os

    def refused(*args, **kwargs):
        raise PermissionError("made by another account")

    monkeypatch.setattr(kernel_db.os, "open", refused)
    db.engine.dispose()  # (a connection of its own, which has not opened the file yet)
    with writing():
        db.session.execute(text("UPDATE department SET name = name"))
    db.session.commit()
    monkeypatch.undo()
    assert os.path.exists(turn_path) is False


def test_a_forked_child_takes_its_own_turn_and_never_lets_go_of_its_parents(app, turn_path):
    """flock belongs to the open file, which a fork shares: a child opens its own."""
    import os

    from handoff.kernel.db import SQLiteConnection

    connection = SQLiteConnection(db.engine.url.database, isolation_level=None)
    assert connection.take_turn()
    pid = os.fork()
    if pid == 0:  # the child: its parent's turn is not its own, and it cannot end it
        kernel_db.SQLITE_BUSY_TIMEOUT_MS = 100
        waited = connection.take_turn()
        connection._has_turn = True
        connection._end_turn()
        os._exit(0 if waited is False else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert _taken(turn_path)  # still the parent's
    connection.rollback()
    assert not _taken(turn_path)
    connection.close()
