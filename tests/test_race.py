"""Two people answering the same handoff at the same moment: exactly one answer wins.

Real threads, each with its own client and database connection, against a file database
(SQLite) or PostgreSQL. The handoff is held for a moment after it is locked, so the two
requests overlap inside their transactions.
"""

import threading
import time

import pytest
from sqlalchemy import func, select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.timeline import TimelineEvent

from conftest import fresh, htmx_headers, writes

ROUNDS = 6


@pytest.fixture
def slow_lock(monkeypatch):
    """Hold each handoff a little after it is locked, widening the window for a race."""
    original = services.locked

    def held(handoff):
        locked = original(handoff)
        time.sleep(0.05)
        return locked

    monkeypatch.setattr(services, "locked", held)


def race(web_app, sign_in, people_and_answers, handoff_id, url=None):
    """Send the answers at once, one thread each; return (status, body) in the same order.

    `url`, when given, is where every answer goes (the action is then ignored); an action
    that is a path is where that one answer goes.
    """
    barrier = threading.Barrier(len(people_and_answers))
    results = [None] * len(people_and_answers)

    def answer(index, person, action, data):
        try:
            client = sign_in(web_app.test_client(), person)
            barrier.wait()
            target = url or (
                action if action.startswith("/") else f"/handoffs/{handoff_id}/{action}"
            )
            response = client.post(target, data=data, headers=htmx_headers())
            results[index] = (response.status_code, response.get_data(as_text=True))
        except Exception as error:  # reported by the test, not lost in the thread
            results[index] = (None, repr(error))

    threads = [
        threading.Thread(target=answer, args=(i, person.id, action, data))
        for i, (person, action, data) in enumerate(people_and_answers)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return results


def answer_events(commitment) -> list[TimelineEvent]:
    db.session.rollback()
    return db.session.scalars(
        select(TimelineEvent).where(
            TimelineEvent.commitment_id == commitment.id,
            TimelineEvent.kind.in_(["accept", "decline", "counter"]),
        )
    ).all()


def test_an_accept_and_a_decline_at_once_one_wins_the_other_is_told(
    web_app, org, make, sign_in, slow_lock
):
    for _ in range(ROUNDS):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
        results = race(
            web_app,
            sign_in,
            [(org.ivo, "accept", {}), (org.ben, "decline", {"reason": "No technician free"})],
            c.handoffs[0].id,
        )
        statuses = sorted(status for status, _ in results)
        assert statuses == [200, 409], results
        [event] = answer_events(c)
        handoff = fresh(c.handoffs[0])
        assert handoff.state == event.to_state
        loser_body = next(body for status, body in results if status == 409)
        winner = "Ivo Berg" if handoff.state == "accepted" else "Ben Okafor"
        assert f"Already {handoff.state} by {winner}" in loser_body


def test_two_accepts_at_once_record_one_acceptance(web_app, org, make, sign_in, slow_lock):
    for _ in range(ROUNDS):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
        results = race(
            web_app, sign_in, [(org.ivo, "accept", {}), (org.ben, "accept", {})], c.handoffs[0].id
        )
        assert [status for status, _ in results] == [200, 200]
        assert sum("Already accepted" in body for _, body in results) == 1
        assert len(answer_events(c)) == 1


def test_many_answers_at_once_leave_exactly_one_answer(web_app, org, make, sign_in, slow_lock):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    people = [org.ivo, org.ben, org.admin, org.ivo, org.ben, org.admin]
    answers = [
        (person, action, data)
        for person, (action, data) in zip(
            people,
            [
                ("accept", {}),
                ("decline", {"reason": "no"}),
                ("counter", {"terms": "Only mornings"}),
            ]
            * 2,
            strict=True,
        )
    ]
    results = race(web_app, sign_in, answers, c.handoffs[0].id)
    assert all(status in (200, 409) for status, _ in results), results
    assert len(answer_events(c)) == 1
    db.session.rollback()
    total = db.session.scalar(
        select(func.count(TimelineEvent.id)).where(TimelineEvent.commitment_id == c.id)
    )
    [answer] = answer_events(c)
    moved = 1 if answer.to_state == "declined" else 0  # a decline moves the conversation
    assert total == 3 + moved  # recorded, requested, and the one answer


def test_two_people_marking_the_customer_told_at_once_one_note_is_kept(
    web_app, org, make, sign_in, monkeypatch, now
):
    from handoff.ownership import services as ownership
    from handoff.ownership.models import CustomerTask

    original = ownership.locked

    def held(task):
        locked = original(task)
        time.sleep(0.05)
        return locked

    monkeypatch.setattr(ownership, "locked", held)
    for _ in range(ROUNDS):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
        with writes():
            services.decline(c.handoffs[0], org.ivo, now, "No technician free")
        task = db.session.scalar(select(CustomerTask).where(CustomerTask.commitment_id == c.id))
        results = race(
            web_app,
            sign_in,
            [(org.ivo, "told", {"note": "Called them"}), (org.ben, "told", {"note": "Emailed"})],
            None,
            url=f"/tasks/{task.id}/told",
        )
        assert sorted(status for status, _ in results) == [200, 409], results
        task = fresh(task)
        assert task.note == ("Called them" if task.closed_by_id == org.ivo.id else "Emailed")
        loser = next(body for status, body in results if status == 409)
        assert "already marked it told" in loser
        told = db.session.scalar(
            select(func.count(TimelineEvent.id)).where(
                TimelineEvent.commitment_id == c.id, TimelineEvent.kind == "told"
            )
        )
        assert told == 1


def test_taking_off_the_last_two_steps_at_once_leaves_one(web_app, org, make, sign_in, slow_lock):
    """Two people of the owner side each take a different step off a route of two at the same
    moment: changes of the route take turns on the commitment's lock, so one is taken off
    and the other is refused (the route would be empty), whichever came first."""
    for _ in range(ROUNDS):
        commitment = make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation, org.billing]
        )
        first, second = commitment.handoffs
        reason = {"view": "commitment", "reason": "Not needed"}
        results = race(
            web_app,
            sign_in,
            [
                (org.ana, f"/handoffs/{first.id}/remove", reason),
                (org.admin, f"/handoffs/{second.id}/remove", reason),
            ],
            first.id,
        )
        assert sorted(status for status, _ in results) == [200, 422], results
        states = sorted([fresh(first).state, fresh(second).state])
        assert states == ["cancelled", "pending"]
