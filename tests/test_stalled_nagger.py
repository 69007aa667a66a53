"""A nagger stopped in the middle of a round (SIGSTOP, with a batch of handoffs locked) never
stalls the site: pages answer at once, an answer to a locked handoff is told "try again"
within the lock timeout and goes through within seconds, once the stopped nagger's
transaction is cut off; the stopped round records nothing.

Two processes on PostgreSQL. (SQLite has one writer at a time: a stopped writer there stops
every other writer, which is why several processes share PostgreSQL.)
"""

import multiprocessing
import os
import signal
import time
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from handoff import create_app
from handoff.kernel.db import db
from handoff.nagging.models import Nag

from conftest import fresh
from nagging_helpers import set_policy


def stalling_nagger(url: str, at: str, locked, ready) -> None:
    """A nagger process that stops for good once it holds its first batch of handoffs."""
    from handoff.nagging import sweep as sweep_module
    from handoff.nagging.scheduler import tighten_for_nagging

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True, "SECRET_KEY": "test"})
    tighten_for_nagging(app)  # as `flask nagger` does

    def stall(handoff, *args):
        locked.put(handoff.id)
        ready.set()
        time.sleep(600)  # the test stops this process here (SIGSTOP) and later kills it

    sweep_module._nag_one = stall
    with app.app_context():
        sweep_module.sweep(datetime.fromisoformat(at))


@pytest.fixture
def due_handoffs(database_url, org, make, now):
    if not database_url.startswith("postgresql"):
        pytest.skip("a stopped process holding row locks while others work is PostgreSQL's case")
    set_policy(always_open=True, ack_window_minutes=5)
    return [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(hours=3)
        )
        for _ in range(12)
    ]


def test_a_nagger_stopped_mid_round_does_not_stall_answers_or_pages(
    database_url, due_handoffs, web_app, org, sign_in, now
):
    spawn = multiprocessing.get_context("spawn")
    locked, ready = spawn.Queue(), spawn.Event()
    nagger = spawn.Process(
        target=stalling_nagger, args=(database_url, now.isoformat(), locked, ready)
    )
    nagger.start()
    try:
        assert ready.wait(timeout=120), "the nagger never locked its batch"
        handoff_id = locked.get(timeout=10)  # (read before the stop: the queue's thread stops too)
        os.kill(nagger.pid, signal.SIGSTOP)
        stopped_at = time.monotonic()

        client = sign_in(web_app.test_client(), org.ivo)
        started = time.monotonic()
        assert client.get("/login").status_code in (200, 302)
        assert client.get("/").status_code == 200
        assert time.monotonic() - started < 2  # pages need no locked row

        answers = []
        while time.monotonic() - stopped_at < 30:
            started = time.monotonic()
            response = client.post(f"/handoffs/{handoff_id}/accept", data={"note": "On it"})
            answers.append((response.status_code, time.monotonic() - started))
            if response.status_code in (200, 303):
                break
            assert response.status_code == 503, response.get_data(as_text=True)
            assert "try again" in response.get_data(as_text=True)
            time.sleep(0.5)
        took = time.monotonic() - stopped_at
        assert answers[-1][0] in (200, 303), answers
        assert max(seconds for _, seconds in answers) < 7, answers  # each within the timeout
        assert took < 15, answers  # the stopped nagger's locks were cut off within seconds
    finally:
        os.kill(nagger.pid, signal.SIGKILL)
        nagger.join(timeout=30)

    handoff = fresh(due_handoffs[0].handoffs[0])
    db.session.rollback()
    assert db.session.scalar(select(func.count(Nag.id))) == 0  # the stopped round kept nothing
    accepted = [h for c in due_handoffs for h in c.handoffs if fresh(h).state == "accepted"]
    assert [h.id for h in accepted] == [handoff_id]
    assert handoff.id in {h.id for c in due_handoffs for h in c.handoffs}
