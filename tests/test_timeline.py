"""The timeline keeps the facts of each entry and makes its words when read."""

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.timeline import PHRASES, TimelineEvent, record

from conftest import writes


def test_an_answer_is_kept_as_facts_and_read_in_words(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.decline(c.handoffs[0], org.ivo, now, "No technician free")
    entry = db.session.scalars(select(TimelineEvent).where(TimelineEvent.kind == "decline")).one()
    assert entry.data == {"department": "Installation", "note": "No technician free"}
    assert entry.words == "Installation declined: No technician free"
    assert (entry.actor_id, entry.from_state, entry.to_state) == (org.ivo.id, "pending", "declined")


def test_an_entry_written_before_the_facts_were_kept_reads_in_its_own_words(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        db.session.add(
            TimelineEvent(
                commitment_id=c.id, kind="accept", summary="Installation accepted", created_at=now
            )
        )
    old = db.session.scalars(select(TimelineEvent).where(TimelineEvent.data.is_(None))).one()
    assert old.words == "Installation accepted"


def test_every_kind_written_has_its_words_and_an_unknown_kind_is_refused(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with pytest.raises(ValueError, match="no words"):
        record(c, "teleported", now, where="Mars")
    kinds = set(db.session.scalars(select(TimelineEvent.kind)))
    assert kinds and kinds <= PHRASES.keys()
