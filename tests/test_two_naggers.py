"""Two nagger processes racing on one database (PostgreSQL when the tests run on it): every
round's mail is decided once per address, so nobody gets two digests from one round."""

import multiprocessing
from collections import Counter, defaultdict
from datetime import timedelta
from itertools import pairwise

from sqlalchemy import func, select

from handoff import create_app
from handoff.accounts.models import Person
from handoff.kernel.db import db
from handoff.mail import OutboxMessage
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep

from nagging_helpers import berlin, set_policy

START = berlin(2026, 5, 11, 9, 0)
MORNING = berlin(2026, 5, 12, 8, 0)
ROUNDS = [MORNING + timedelta(minutes=15 * i) for i in range(4)]


def nagger(url: str, rounds: list, barrier) -> None:
    """One nagger process: a sweep at each round, started together with the other."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "test"})
    with app.app_context():
        for moment in rounds:
            barrier.wait(timeout=120)
            sweep(moment)
            db.session.remove()
        db.engine.dispose()


def test_two_nagger_processes_write_one_digest_per_address_per_round(database_url, org, make, app):
    # Many people who read one morning digest: at 08:00 both naggers find every address due
    # at once, the moment two sweepers are most likely to mail one person twice.
    set_policy(ack_window_minutes=15, cadence_minutes=60, escalate_after=2, org_escalate_after=4)
    for index in range(10):
        for department in (org.installation, org.billing):
            make.person(f"Member {department.name} {index}", member_of=[department])
    for person in db.session.scalars(select(Person)):
        person.digest_mode = "morning"
    db.session.commit()
    for minutes in range(0, 180, 20):
        make.commitment(
            by=org.ana,
            owner=org.sales,
            route=[org.installation, org.billing],
            at=START + timedelta(minutes=minutes),
            due_in=timedelta(days=5),
        )
    moment = START
    while moment < berlin(2026, 5, 11, 17, 0):
        sweep(moment)  # one nagger through Monday: everything waits for the morning
        moment += timedelta(minutes=15)
    db.session.rollback()
    waiting = select(func.count(func.distinct(Nag.recipient_email))).where(
        Nag.mail_after == MORNING
    )
    assert db.session.scalar(waiting) >= 20

    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    processes = [
        spawn.Process(target=nagger, args=(database_url, ROUNDS, barrier)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=600)
    assert [p.exitcode for p in processes] == [0, 0]

    db.session.rollback()
    mail = list(db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))
    addresses = {m.to_address for m in mail}
    assert len(addresses) >= 20  # everyone had their morning digest
    per_round = Counter((m.to_address, m.created_at) for m in mail)
    assert max(per_round.values()) == 1, [k for k, n in per_round.items() if n > 1][:3]
    by_address = defaultdict(list)
    for message in mail:
        by_address[message.to_address].append(message.created_at)
    for moments in by_address.values():
        assert all(b - a >= timedelta(minutes=15) for a, b in pairwise(sorted(moments)))
    nags = list(db.session.scalars(select(Nag)))
    keys = Counter((n.handoff_id, n.series, n.number, n.recipient_email) for n in nags)
    assert max(keys.values()) == 1  # every reminder recorded once
    settled = [(n.message_id, n.mail_after, n.dropped_at) for n in nags]
    assert all(sum(x is not None for x in row) == 1 for row in settled)  # mailed, waiting, dropped
    # insights' counts, kept by both processes' reminders at once, are what the record says
    from handoff.insights.rebuild import count_from_record, kept_figures

    connection = db.session.connection()
    kept, counted = kept_figures(connection), count_from_record(connection)
    assert kept[0] == counted[0]
    assert sum(c["reminders"] for c in kept[0].values()) > 0


def weekly_writer(url: str, moment, barrier) -> None:
    """One nagger's weekly reports, started together with the other's."""
    from handoff.insights.weekly import write_weekly_reports

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "test"})
    with app.app_context():
        barrier.wait(timeout=120)
        write_weekly_reports(moment)
        db.session.remove()
        db.engine.dispose()


def test_two_naggers_mail_each_leads_weekly_report_once(database_url, org, make, app):
    set_policy()
    for index in range(8):  # departments with two leads each, all due at once
        department = make.department(f"Team {index}")
        for n in range(2):
            make.person(f"Lead {index}-{n}", lead_of=[department])
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=START)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    monday = berlin(2026, 5, 18, 8, 30)
    processes = [
        spawn.Process(target=weekly_writer, args=(database_url, monday, barrier)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(timeout=300)
    assert [p.exitcode for p in processes] == [0, 0]
    db.session.rollback()
    weekly = [
        m.to_address
        for m in db.session.scalars(select(OutboxMessage))
        if m.subject.startswith("[Handoff]") and "'s week of 11 May" in m.subject
    ]
    assert len(weekly) == 8 * 2 + 2  # every lead: the teams', Ana's (Sales) and Ben's
    assert max(Counter(weekly).values()) == 1
