"""Time the nagging sweep on a database made by generate.py: its cost follows what is due.

    .venv/bin/python bench/sweep.py --database-url sqlite:///bench-1000000.db [--due 0,1000,10000]
        [--phases: also where each round's time went]

On a copy of a SQLite database (PostgreSQL is used as it is, and changed), with every
department working round the clock (so that the hour of the run does not matter), for each
number of due items: that many waiting handoffs are made due now, then one sweep records their
reminders, writes the digests into the outbox (rendering each mail) and is timed, with its
SQL statements counted, and the process's peak memory (RSS) after it. Around the round,
a bare sweep with nothing due. Prints a table.
"""

import argparse
import functools
import resource
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask import current_app
from sqlalchemy import event, select, update

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handoff import create_app
from handoff.commitments.models import Handoff
from handoff.departments.services import set_hours
from handoff.kernel.db import db, writing
from handoff.nagging.sweep import sweep


def make_due(count: int, now: datetime) -> int:
    """`count` waiting handoffs (newest first) due for their reminder now; answer how many."""
    ids = list(
        db.session.scalars(
            select(Handoff.id)
            .where(Handoff.state == "pending", Handoff.next_nag_at.is_not(None))
            .order_by(Handoff.id.desc())
            .limit(count)
        )
    )
    with writing():
        for start in range(0, len(ids), 5000):
            db.session.execute(
                update(Handoff)
                .where(Handoff.id.in_(ids[start : start + 5000]))
                .values(next_nag_at=now - timedelta(minutes=1), next_nag_kind="ack")
            )
        db.session.commit()
    return len(ids)


# Where a round's time goes (--phases): these functions are timed, wall-clock, as they run.
PHASES = (
    ("handoff.nagging.sweep", "_sweep_batch", "recording: batches"),
    ("handoff.nagging.sweep", "insert_new", "recording: inserting the reminder rows"),
    ("handoff.nagging.sweep", "write_digests", "digests"),
    ("handoff.nagging.mailing", "_waiting", "digests: reading what waits"),
    ("handoff.nagging.mailing", "_mailed_topics", "digests: what was mailed before"),
    ("handoff.nagging.mailing", "Facts", "digests: the facts, under lock"),
    ("handoff.nagging.mailing", "compose_digest", "digests: composing"),
    ("handoff.nagging.mailing", "_write", "digests: composing and marking"),
    ("handoff.nagging.mailing", "_mark_carried", "digests: marking what each carried"),
    ("handoff.nagging.mailing", "_drop_stale", "digests: dropping what is no longer true"),
    ("handoff.nagging.mailing", "_save", "digests: writing back what was held"),
)


def time_phases() -> Counter:
    """Wrap the PHASES' functions so that each adds its time to the counter answered; and
    the commits of SQLite's connections."""
    import importlib

    from handoff.kernel import db as kernel_db

    spent: Counter = Counter()

    def timed(function, label):
        @functools.wraps(function)
        def run(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        return run

    for module_name, name, label in PHASES:
        module = importlib.import_module(module_name)
        setattr(module, name, timed(getattr(module, name), label))
    connection = kernel_db.SQLiteConnection
    connection.commit = timed(connection.commit, "commits (SQLite)")
    return spent


def timed_sweep(now: datetime, statements: list) -> dict:
    statements.clear()
    started = time.perf_counter()
    report = sweep(now)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "queries": len(statements),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "reminders": report.reminders,
        "digests": report.digests,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--due", default="0,1000,10000")
    parser.add_argument(
        "--phases", action="store_true", help="also print where each round's time went"
    )
    args = parser.parse_args()
    spent = time_phases() if args.phases else None
    url, folder = args.database_url, None
    if url.startswith("sqlite"):
        folder = tempfile.mkdtemp(prefix="handoff-sweep-")
        source = Path(url.removeprefix("sqlite:///"))
        shutil.copy(source, Path(folder) / source.name)
        url = f"sqlite:///{Path(folder) / source.name}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    # now, where generate.py's history leads up to (its reminders are planned later than
    # this); every department at work round the clock, so that any hour is a working one
    now = datetime.now(UTC)
    statements: list[str] = []
    with app.app_context():
        with writing():
            set_hours(None, always_open=True)
            db.session.commit()
        event.listen(db.engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
        commitments = db.session.execute(db.text("SELECT count(*) FROM commitment")).scalar()
        print(f"the sweep, {commitments:,} commitments, {url.split(':')[0]}, at {now:%a %H:%M}")
        print(
            f"{'due':>8}{'seconds':>10}{'queries':>10}{'per item':>10}{'peak MB':>9}"
            f"{'reminders':>10}{'digests':>9}"
        )
        for count in [int(n) for n in args.due.split(",")]:
            # what the generated history has due by now (late work noticed, its notices
            # mailed); the bare sweeps; then, past the digest throttle (so that what they
            # mailed holds nothing back), the round with the items made due for it
            gap = timedelta(minutes=current_app.config["DIGEST_MIN_MINUTES"] + 1)
            sweep(now)
            now += gap
            empty = [timed_sweep(now, statements) for _ in range(5)]
            now += gap
            made = make_due(count, now) if count else 0
            if spent is not None:
                spent.clear()
            figures = timed_sweep(now, statements) if made else empty[-1]
            seconds = figures["seconds"] if made else statistics.median(e["seconds"] for e in empty)
            per = f"{figures['queries'] / made:.1f}" if made else "-"
            print(
                f"{made:>8,}{seconds:>10.3f}{figures['queries']:>10,}{per:>10}"
                f"{figures['peak_mb']:>9.1f}{figures['reminders']:>10,}{figures['digests']:>9,}"
            )
            if spent and made:
                for label, seconds in sorted(spent.items()):
                    print(f"{'':>8}{seconds:>10.3f}  {label}")
            now += timedelta(hours=1)
    if folder:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
