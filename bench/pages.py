"""Time the board, an inbox and the lookup on the demo organisation, and count their queries.

    .venv/bin/python bench/pages.py [--commitments 360] [--runs 30]

Builds the demo into a temporary SQLite database (or HANDOFF_DATABASE_URL, which must be
empty), then requests each page through the app, as a signed-in person, and prints the
median and 95th-percentile time and the number of SQL statements per request.
"""

import argparse
import os
import statistics
import tempfile
import time

from flask_migrate import upgrade
from sqlalchemy import event, select

from handoff import create_app
from handoff.accounts.models import Person
from handoff.demo import build_demo
from handoff.kernel.db import db, writing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commitments", type=int, default=360)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    folder = tempfile.mkdtemp(prefix="handoff-bench-")
    url = os.environ.get("HANDOFF_DATABASE_URL") or f"sqlite:///{folder}/bench.db"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "WTF_CSRF_ENABLED": False})
    with app.app_context():
        upgrade(directory=app.root_path + "/migrations")
        started = time.perf_counter()
        with writing():
            build_demo(seed=7, progress=lambda _: None, commitments=args.commitments)
            db.session.commit()
        built = time.perf_counter() - started
        print(f"demo with {args.commitments} commitments built in {built:.1f} s")
        ana = db.session.scalar(select(Person).filter_by(email="ana@example.com"))
        inbox = f"/departments/{ana.memberships[0].department_id}/inbox"
        ana_id = ana.id
        engine = db.engine

    statements = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = str(ana_id)

    pages = {
        "board (all open)": "/",
        "board, htmx refresh": ("/?show=at_risk", {"HX-Request": "true"}),
        "inbox (Sales)": inbox,
        "lookup 'berg'": ("/lookup?q=berg", {"HX-Request": "true"}),
        "commitment page": "/commitments/C-1050",
    }
    print(f"{'page':24} {'median ms':>10} {'p95 ms':>8} {'queries':>8} {'KiB':>6}")
    for name, target in pages.items():
        path, headers = target if isinstance(target, tuple) else (target, {})
        timings = []
        for _ in range(args.runs):
            statements.clear()
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        timings.sort()
        p95 = timings[int(len(timings) * 0.95) - 1]
        size = len(response.data) / 1024
        median = statistics.median(timings)
        print(f"{name:24} {median:10.1f} {p95:8.1f} {len(statements):8d} {size:6.0f}")


if __name__ == "__main__":
    main()
