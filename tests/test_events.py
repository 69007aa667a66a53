"""Domain events: each verb says what happened; the reactions in handoff/reactions.py hear it
in the verb's transaction; a new reaction plugs in without touching the verb."""

from collections import defaultdict
from datetime import timedelta

import pytest

from handoff import reactions
from handoff.commitments import services
from handoff.kernel import events
from handoff.nagging.rules import Level
from handoff.nagging.sweep import sweep

from conftest import writes
from nagging_helpers import berlin, set_policy


@pytest.fixture
def heard(app, monkeypatch):
    """Every event announced during the test, by kind, besides the usual reactions."""
    seen = defaultdict(list)
    table = {
        event: [*reactions.EVENT_HANDLERS[event], seen[event.__name__].append]
        for event in events.EVENTS
    }
    monkeypatch.setattr(events, "HANDLERS", table)
    return seen


def test_every_event_has_its_row_in_the_reactions_table_and_a_missing_one_is_refused():
    assert set(reactions.EVENT_HANDLERS) == set(events.EVENTS)
    incomplete = {e: [] for e in events.EVENTS if e is not events.PromiseBroke}
    with pytest.raises(ValueError, match="PromiseBroke"):
        events.install(incomplete)


def test_recording_hands_each_step_over_and_a_decline_breaks_the_promise(org, make, now, heard):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    requested = heard["HandoffRequested"]
    assert [e.handoff.department_id for e in requested] == [org.installation.id, org.billing.id]
    with writes():
        services.decline(c.handoffs[0], org.ivo, now, "No technician free")
    [answered] = heard["HandoffAnswered"]
    assert (answered.action, answered.from_state, answered.to_state) == (
        "decline",
        "pending",
        "declined",
    )
    [broke] = heard["PromiseBroke"]
    assert (broke.reason, broke.person.id) == (events.DECLINED, org.ivo.id)
    [moved] = heard["CustomerOwnerChanged"]  # the reaction said so in turn
    assert (moved.from_department_id, moved.to_department_id) == (
        org.sales.id,
        org.installation.id,
    )


def test_the_last_part_done_fulfils_the_commitment_once(org, make, now, heard):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    with writes():
        for handoff, person in zip(c.handoffs, (org.ivo, org.dev), strict=True):
            services.accept(handoff, person, now)
            services.complete(handoff, person, now)
    assert [e.commitment.id for e in heard["CommitmentFulfilled"]] == [c.id]


def test_the_sweep_says_which_reminders_it_recorded_and_when_they_escalated(org, make, heard):
    set_policy(ack_window_minutes=60, cadence_minutes=60, escalate_after=1)
    start = berlin(2026, 5, 11, 9, 0)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=start)
    for hours in (1, 2):
        with writes():
            sweep(start + timedelta(hours=hours))
    assert [(e.kind, e.number, e.level) for e in heard["NagRecorded"]] == [
        ("ack", 1, Level.DEPARTMENT),
        ("ack", 2, Level.LEADS),
    ]
    escalated = [(e.department_id, e.level) for e in heard["Escalated"]]
    assert escalated == [(org.installation.id, Level.LEADS)]


def test_a_new_reaction_plugs_in_without_touching_the_verb_and_shares_its_transaction(
    org, make, now, monkeypatch
):
    from handoff.kernel.db import db
    from handoff.kernel.timeline import TimelineEvent

    def note_on_the_timeline(event):  # e.g. what a webhook or an insight would do
        from handoff.kernel.timeline import record

        record(event.handoff.commitment, "comment", event.at, by="A listener")

    table = {e: list(reactions.EVENT_HANDLERS[e]) for e in events.EVENTS}
    table[events.HandoffAnswered].append(note_on_the_timeline)
    monkeypatch.setattr(events, "HANDLERS", table)
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    before = db.session.query(TimelineEvent).count()
    services.accept(c.handoffs[0], org.ivo, now)
    db.session.rollback()  # the verb's transaction thrown away: the reaction goes with it
    assert db.session.query(TimelineEvent).count() == before
    with writes():
        services.accept(c.handoffs[0], org.ivo, now)
    assert db.session.query(TimelineEvent).count() == before + 2
