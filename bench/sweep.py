"""The sweep's cost follows the number of due reminders, not the number of commitments.

    .venv/bin/python bench/sweep.py [--sizes 1000,10000,50000] [--due 20]

For each size, fills a fresh SQLite database with that many open handoffs whose next
reminder lies in the future, makes `--due` of them due, and times sweep(now) over several
rounds (each round the same handoffs are made due again). Prints the median time per sweep
and the query plan of the sweep's "due at or before now" query.
"""

import argparse
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta

from flask_migrate import upgrade
from sqlalchemy import insert, select, text, update

from handoff import create_app
from handoff.accounts.models import Person
from handoff.commitments.models import Commitment, Handoff
from handoff.customers.models import Customer
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db
from handoff.nagging.models import DEFAULTS, NagPolicy
from handoff.nagging.sweep import sweep

NOW = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)  # a Tuesday, inside office hours


def fill(size: int) -> list[int]:
    """`size` open handoffs, one per commitment, none due; answer their ids."""
    department = Department(name="Installation")
    owner = Department(name="Sales")
    person = Person(name="Ivo", email="ivo@bench.example", password_hash="-")
    customer = Customer(name="Bench customer")
    db.session.add_all([department, owner, person, customer])
    db.session.flush()
    db.session.add(Membership(person=person, department=department, role="member"))
    db.session.add(NagPolicy(department_id=None, **DEFAULTS))
    later = NOW + timedelta(days=30)
    commitments = [
        {
            "customer_id": customer.id,
            "title": "Bench",
            "details": "",
            "channel": "phone",
            "promised_at": later,
            "owner_department_id": owner.id,
            "made_by_id": person.id,
            "customer_owner_department_id": owner.id,
            "created_at": NOW - timedelta(days=1),
            "cancel_reason": "",
        }
        for _ in range(size)
    ]
    db.session.execute(insert(Commitment), commitments)
    ids = db.session.scalars(select(Commitment.id)).all()
    handoffs = [
        {
            "commitment_id": cid,
            "department_id": department.id,
            "position": 1,
            "ask": "Bench",
            "due_at": later,
            "state": "pending",
            "requested_at": NOW - timedelta(days=1),
            "requested_by_id": person.id,
            "answer_note": "",
            "counter_terms": "",
            "changed_at": NOW - timedelta(days=1),
            "changed_by_id": person.id,
            "next_nag_at": later,
            "next_nag_kind": "ack",
            "nag_series": 1,
            "nag_count": 0,
            "nags_total": 0,
        }
        for cid in ids
    ]
    db.session.execute(insert(Handoff), handoffs)
    db.session.commit()
    return db.session.scalars(select(Handoff.id)).all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,10000,50000")
    parser.add_argument("--due", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    print(f"{'open handoffs':>14} {'due':>5} {'median ms/sweep':>16} {'reminders':>10}")
    plan = ""
    for size in (int(s) for s in args.sizes.split(",")):
        folder = tempfile.mkdtemp(prefix="handoff-bench-")
        app = create_app(
            {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{folder}/b.db", "DIGEST_MIN_MINUTES": 0}
        )
        with app.app_context():
            upgrade(directory=app.root_path + "/migrations")
            ids = fill(size)
            due = ids[:: max(1, size // args.due)][: args.due]
            timings, reminders = [], 0
            for _ in range(args.rounds):
                db.session.execute(
                    update(Handoff)
                    .where(Handoff.id.in_(due))
                    .values(next_nag_at=NOW - timedelta(minutes=1))
                )
                db.session.commit()
                started = time.perf_counter()
                reminders += sweep(NOW).reminders
                timings.append((time.perf_counter() - started) * 1000)
            plan = db.session.execute(
                text(
                    "EXPLAIN QUERY PLAN SELECT id FROM handoff "
                    "WHERE next_nag_at <= :now ORDER BY next_nag_at, id LIMIT 500"
                ),
                {"now": NOW.replace(tzinfo=None)},
            ).all()
            db.session.remove()
            db.engine.dispose()
        median = statistics.median(timings)
        print(f"{size:>14} {len(due):>5} {median:>16.1f} {reminders // args.rounds:>10}")
    print("query plan:", "; ".join(row[-1] for row in plan))


if __name__ == "__main__":
    main()
