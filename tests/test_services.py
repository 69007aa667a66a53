"""The verbs of the domain, with a database: state, stamps and timeline move together."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handoff.commitments import services
from handoff.commitments.lifecycle import InvalidTransition
from handoff.commitments.models import Handoff
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.kernel.timeline import AppendOnlyViolation, TimelineEvent


def events(commitment, kind=None):
    query = select(TimelineEvent).where(TimelineEvent.commitment_id == commitment.id)
    if kind:
        query = query.where(TimelineEvent.kind == kind)
    return db.session.scalars(query.order_by(TimelineEvent.id)).all()


def test_recording_hands_each_department_a_pending_handoff_in_route_order(org, make):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    assert [(h.department.name, h.state, h.position) for h in c.handoffs] == [
        ("Installation", "pending", 1),
        ("Billing", "pending", 2),
    ]
    assert c.reference == f"C-{c.id + 1000}"
    assert c.customer_owner_department == org.sales
    assert c.customer_owner_person == org.ana
    assert [e.kind for e in events(c)] == ["recorded", "requested", "requested"]


def test_a_person_records_only_on_behalf_of_their_own_department(org, make):
    with pytest.raises(NotAllowed):
        make.commitment(by=org.dev, owner=org.sales, route=[org.installation])


@pytest.mark.parametrize(
    "problem",
    ["empty route", "repeated department", "past due date", "past promise", "empty ask"],
)
def test_a_bad_route_is_refused_and_nothing_is_saved(org, make, now, problem):
    customer = make.customer()
    step = services.RouteStep(org.installation, "Install", now + timedelta(days=1))
    route = {
        "empty route": [],
        "repeated department": [step, step],
        "past due date": [
            services.RouteStep(org.installation, "Install", now - timedelta(hours=1))
        ],
        "past promise": [step],
        "empty ask": [services.RouteStep(org.installation, "  ", now + timedelta(days=1))],
    }[problem]
    promised = now - timedelta(hours=1) if problem == "past promise" else now + timedelta(days=2)
    with pytest.raises(InvalidInput):
        services.record_commitment(
            actor=org.ana,
            customer=customer,
            title="x",
            details="",
            channel="phone",
            promised_at=promised,
            owner_department=org.sales,
            route=route,
            now=now,
        )
    db.session.rollback()
    assert db.session.scalar(select(func.count(Handoff.id))) == 0


def test_accepting_stamps_who_and_when_and_appends_one_event(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    handoff = c.handoffs[0]
    later = now + timedelta(minutes=5)
    outcome = services.accept(handoff, org.ivo, later, "Booked Tuesday")
    db.session.commit()
    assert outcome.changed
    assert (handoff.state, handoff.answered_by, handoff.answered_at) == ("accepted", org.ivo, later)
    [event] = events(c, "accept")
    assert (event.from_state, event.to_state, event.actor) == ("pending", "accepted", org.ivo)
    assert "Booked Tuesday" in event.words


def test_member_of_billing_cannot_accept_installation_handoff(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with pytest.raises(NotAllowed):
        services.accept(c.handoffs[0], org.dev, now)
    db.session.rollback()
    assert db.session.get(Handoff, c.handoffs[0].id).state == "pending"


def test_an_admin_may_answer_for_any_department(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    assert services.accept(c.handoffs[0], org.admin, now).changed


def test_accepting_twice_is_harmless(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(c.handoffs[0], org.ivo, now)
    second = services.accept(c.handoffs[0], org.ben, now + timedelta(minutes=1))
    db.session.commit()
    assert not second.changed
    assert c.handoffs[0].answered_by == org.ivo
    assert len(events(c, "accept")) == 1


def test_declining_an_accepted_handoff_is_an_invalid_transition(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(c.handoffs[0], org.ivo, now)
    with pytest.raises(InvalidTransition):
        services.decline(c.handoffs[0], org.ben, now, "No")


def test_declining_needs_a_reason(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with pytest.raises(InvalidInput):
        services.decline(c.handoffs[0], org.ivo, now, "   ")


def test_a_counter_needs_a_date_or_terms(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with pytest.raises(InvalidInput):
        services.counter(c.handoffs[0], org.ivo, now, due_at=None, terms=" ")
    with pytest.raises(InvalidInput):
        services.counter(c.handoffs[0], org.ivo, now, due_at=now - timedelta(days=1), terms="")


def test_taking_a_later_counter_moves_the_customer_date_and_says_the_customer_must_be_told(
    org, make, now
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    later = c.promised_at + timedelta(days=2)
    services.counter(c.handoffs[0], org.ivo, now, due_at=later, terms="", note="Earliest slot")
    with pytest.raises(NotAllowed):
        services.take_counter(c.handoffs[0], org.ivo, now)  # only the owner side settles
    services.take_counter(c.handoffs[0], org.ana, now)
    db.session.commit()
    handoff = c.handoffs[0]
    assert (handoff.state, handoff.due_at) == ("accepted", later)
    assert c.promised_at == later
    [moved] = events(c, "customer_date_moved")
    assert moved.about_at == later
    [owner] = events(c, "owner_moved")
    assert "Installation (Ivo" in owner.words and "Tell the customer by" in owner.words


def test_taking_a_counter_within_the_promise_leaves_the_customer_date(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    promised = c.promised_at
    earlier = promised - timedelta(hours=1)
    services.counter(c.handoffs[0], org.ivo, now, due_at=earlier, terms="")
    services.take_counter(c.handoffs[0], org.ana, now)
    db.session.commit()
    assert c.promised_at == promised
    assert events(c, "customer_date_moved") == []


def test_rejecting_a_counter_asks_again_as_it_was(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    due = c.handoffs[0].due_at
    services.counter(c.handoffs[0], org.ivo, now, due_at=None, terms="Only with a deposit")
    services.reject_counter(c.handoffs[0], org.ana, now, "Customer will not pay a deposit")
    db.session.commit()
    handoff = c.handoffs[0]
    assert (handoff.state, handoff.due_at, handoff.counter_terms) == ("pending", due, "")
    assert "deposit" in events(c, "reject_counter")[0].words


def test_only_accepted_work_can_be_marked_done(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with pytest.raises(InvalidTransition):
        services.complete(c.handoffs[0], org.ivo, now)
    services.accept(c.handoffs[0], org.ivo, now)
    services.complete(c.handoffs[0], org.ivo, now + timedelta(hours=1))
    assert c.handoffs[0].state == "done"
    assert c.handoffs[0].done_at == now + timedelta(hours=1)


def test_cancelling_cancels_every_open_handoff_but_keeps_answers(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    services.decline(c.handoffs[1], org.dev, now, "Needs a signed order")
    services.cancel_commitment(c, org.ana, now, "Customer changed their mind")
    db.session.commit()
    assert [h.state for h in c.handoffs] == ["cancelled", "declined"]
    assert c.cancelled_by == org.ana
    assert events(c, "cancelled")


def test_the_last_step_cannot_be_taken_off_the_route(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    services.remove_step(c.handoffs[1], org.ana, now, "Billing not needed")
    with pytest.raises(InvalidInput):
        services.remove_step(c.handoffs[0], org.ana, now, "and this")


def test_adding_a_department_already_on_the_route_is_refused(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    step = services.RouteStep(org.installation, "again", now + timedelta(days=1))
    with pytest.raises(InvalidInput):
        services.add_step(c, org.ana, now, step)
    added = services.add_step(
        c, org.ana, now, services.RouteStep(org.billing, "Invoice", now + timedelta(days=1))
    )
    assert (added.position, added.state) == (2, "pending")


def test_the_timeline_is_never_edited_or_deleted(org, make):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    event = events(c)[0]
    event.data = {**event.data, "by": "someone else"}
    with pytest.raises(AppendOnlyViolation):
        db.session.flush()
    db.session.rollback()
    with pytest.raises(AppendOnlyViolation):
        db.session.delete(events(c)[0])
        db.session.flush()
