"""Sweeps racing each other, and an answer racing a due reminder: nothing twice, nothing late.

Real threads with their own connections, against a file database or PostgreSQL.
"""

import threading
import time
from datetime import timedelta

import pytest

from handoff.commitments import services
from handoff.kernel.db import db, writing
from handoff.mail import OutboxMessage
from handoff.nagging import sweep as sweep_module
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep

from conftest import fresh
from nagging_helpers import berlin, count, nags, set_policy

DUE = berlin(2026, 5, 11, 11, 0)


def run_together(app_factory, *jobs):
    """Run each job(app) in its own thread and app, all released at once; re-raise failures."""
    barrier = threading.Barrier(len(jobs))
    errors = []
    apps = [app_factory() for _ in jobs]

    def run(app, job):
        try:
            with app.app_context():
                barrier.wait()
                job(app)
                db.session.remove()
        except Exception as error:
            errors.append(error)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(apps, jobs, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


@pytest.fixture
def many_waiting(org, make, app):
    set_policy()
    at = berlin(2026, 5, 11, 9, 0)
    return [
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing], at=at)
        for _ in range(12)
    ]


def test_four_sweeps_at_once_record_and_mail_each_reminder_once(app_factory, many_waiting):
    run_together(app_factory, *[lambda app: sweep(DUE)] * 4)
    assert count(Nag) == 24  # 12 commitments × 2 departments × 1 person each
    assert len({(n.handoff_id, n.series, n.number, n.recipient_email) for n in nags()}) == 24
    assert count(OutboxMessage) <= 4  # ivo and dev: one digest each per sweep at most
    per_person = {}
    for nag in nags():
        per_person.setdefault(nag.recipient_email, set()).add(nag.message_id)
    assert all(None not in ids for ids in per_person.values())


def test_sweeps_racing_over_a_day_never_send_a_reminder_twice(app_factory, many_waiting):
    moments = [DUE + timedelta(minutes=15 * i) for i in range(28)]
    for moment in moments:
        run_together(app_factory, lambda app, m=moment: sweep(m), lambda app, m=moment: sweep(m))
    keys = [(n.handoff_id, n.series, n.number, n.recipient_email) for n in nags()]
    assert len(keys) == len(set(keys))
    numbers = {n.handoff_id: n.number for n in nags()}
    assert set(numbers.values()) == {2}  # 11:00 and 15:00, nothing more before 17:00


def test_an_answer_that_commits_first_is_never_followed_by_a_reminder(
    app_factory, org, make, app, monkeypatch
):
    set_policy()
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 9, 0)
    )
    handoff_id = c.handoffs[0].id
    ivo_id = org.ivo.id
    answered = threading.Event()

    def answer(app):
        from handoff.accounts.models import Person
        from handoff.commitments.models import Handoff

        with writing():
            handoff = db.session.get(Handoff, handoff_id)
            services.accept(handoff, db.session.get(Person, ivo_id), DUE - timedelta(seconds=1))
            answered.set()
            time.sleep(0.3)  # the sweep starts while this answer holds the row
            db.session.commit()

    def sweep_after_the_answer_began(app):
        answered.wait(5)
        sweep(DUE)

    run_together(app_factory, answer, sweep_after_the_answer_began)
    assert nags() == []
    handoff = fresh(c.handoffs[0])
    assert handoff.state == "accepted" and handoff.nag_count == 0
    # and a later sweep, with nothing in its way, still sends nothing
    assert sweep(DUE + timedelta(hours=1)).reminders == 0


def test_a_sweep_that_loses_the_insert_race_leaves_the_schedule_alone(many_waiting, monkeypatch):
    # Simulate another sweep having recorded the reminder between our lock and our insert.
    monkeypatch.setattr(sweep_module, "insert_new", lambda *args: set())
    report = sweep(DUE)
    assert report.reminders == 0 and report.skipped > 0
    assert fresh(many_waiting[0].handoffs[0]).nag_count == 0
