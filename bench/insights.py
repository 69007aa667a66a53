"""Insights at any size: the page and its CSV, timed in-process against a static file.

    .venv/bin/python bench/insights.py --database-url sqlite:////tmp/bench/b1m.db [--runs 5]

A database made by bench/generate.py (which counts insights' figures at the end). Prints the
median of `--runs` requests for 8 weeks, a year and two years, the CSV and a cell's list of
commitments, each as milliseconds and as a multiple of the static file in the same run.
"""

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handoff import create_app
from handoff.accounts.models import Person
from handoff.kernel.db import db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url})
    client = app.test_client()
    with app.app_context():
        person = db.session.scalar(db.select(Person).where(Person.email == "lead@bench.example"))
        person_id, token = person.id, person.session_token
    with client.session_transaction() as session:
        session["_user_id"] = f"{person_id}:{token}:{int(time.time())}"
    now = datetime.now(UTC)
    year, two = (now - timedelta(weeks=52)).date(), (now - timedelta(weeks=104)).date()
    pages = [
        ("floor: a static file", "/static/app.css"),
        ("insights, 8 weeks", "/insights"),
        ("insights, a year", f"/insights?from={year}"),
        ("insights, two years", f"/insights?from={two}"),
        ("departments as CSV", "/insights/departments.csv"),
        ("a cell's commitments", "/insights/commitments?department=1"),
        ("promises to publish", "/insights/standing-promises"),
    ]
    print(f"{'':24}{'median ms':>11}{'×floor':>9}{'KB':>7}")
    floor = None
    for name, path in pages:
        times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            response = client.get(path)
            times.append((time.perf_counter() - started) * 1000)
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code}")
        median = statistics.median(times)
        floor = floor or median
        print(f"{name:24}{median:11.1f}{median / floor:9.0f}{len(response.data) // 1024:7}")


if __name__ == "__main__":
    main()
