"""You break it, you own it: the customer conversation moves, and the customer is told.

Business hours are the organisation default: Mon–Fri 08:00–17:00 Europe/Berlin; 2 business
hours to tell the customer; reminders every 4 business hours, to the leads after 2.
"""

from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed
from handoff.kernel.timeline import TimelineEvent
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep
from handoff.ownership.models import CustomerTask
from handoff.ownership.services import mark_told

from conftest import fresh, set_ownership
from nagging_helpers import berlin, messages, nag_events, set_policy

MONDAY_9 = berlin(2026, 5, 11, 9, 0)


@pytest.fixture
def policy(app):
    return set_policy()


def tasks(commitment) -> list[CustomerTask]:
    db.session.rollback()
    return list(
        db.session.scalars(
            select(CustomerTask)
            .where(CustomerTask.commitment_id == commitment.id)
            .order_by(CustomerTask.id)
        )
    )


def task_nags(task) -> list[tuple[int, str]]:
    db.session.rollback()
    rows = db.session.scalars(
        select(Nag)
        .where(Nag.task_id == task.id, Nag.kind == "tell")
        .order_by(Nag.number, Nag.recipient_email)
    )
    return [(nag.number, nag.recipient_email) for nag in rows]


def events(commitment, kind):
    return db.session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.commitment_id == commitment.id, TimelineEvent.kind == kind)
        .order_by(TimelineEvent.id)
    ).all()


def owner_of(commitment):
    commitment = fresh(commitment)
    return commitment.customer_owner_department_id, commitment.customer_owner_person_id


# --- the three events that move the conversation --------------------------------------------


def test_a_decline_moves_the_conversation_to_the_declining_department(org, make, policy):
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation, org.billing], at=MONDAY_9
    )
    assert owner_of(c) == (org.sales.id, org.ana.id)
    services.decline(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 16, 0), "No technician free")
    db.session.commit()
    assert owner_of(c) == (org.installation.id, org.ivo.id)
    [task] = tasks(c)
    assert (task.reason, task.department_id, task.person_id) == (
        "declined",
        org.installation.id,
        org.ivo.id,
    )
    assert task.due_at == berlin(2026, 5, 12, 9, 0)  # 2 business hours: 16–17, then 08–09
    [event] = events(c, "owner_moved")
    assert event.words == (
        "Installation (Ivo Berg) now talks to the customer: Installation declined. "
        "Tell the customer by"
    )
    assert event.about_at == task.due_at


def test_taking_a_counter_that_moves_the_customer_date_moves_the_conversation(org, make, policy):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    later = c.promised_at + timedelta(days=2)
    services.counter(c.handoffs[0], org.ivo, MONDAY_9 + timedelta(hours=1), due_at=later, terms="")
    db.session.commit()
    assert owner_of(c) == (org.sales.id, org.ana.id)  # a counter alone moves nothing
    services.take_counter(c.handoffs[0], org.ana, MONDAY_9 + timedelta(hours=2))
    db.session.commit()
    assert owner_of(c) == (org.installation.id, org.ivo.id)  # whoever countered
    [task] = tasks(c)
    assert task.reason == "date_moved"
    assert task.why == "Installation's counter moved the customer's date"


def test_accepted_work_past_its_due_time_moves_the_conversation_once(org, make, policy):
    c = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        at=MONDAY_9,
        due_in=timedelta(days=2),  # the handoff is due Tuesday 09:00
    )
    services.accept(c.handoffs[0], org.ivo, MONDAY_9 + timedelta(minutes=30))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 8, 59))
    assert tasks(c) == [] and owner_of(c) == (org.sales.id, org.ana.id)
    report = sweep(berlin(2026, 5, 12, 9, 0))
    assert report.late == 1
    assert owner_of(c) == (org.installation.id, org.ivo.id)  # who accepted it
    [task] = tasks(c)
    assert (task.reason, task.due_at) == ("late", berlin(2026, 5, 12, 11, 0))
    sweep(berlin(2026, 5, 12, 9, 15))
    sweep(berlin(2026, 5, 12, 13, 0))
    assert len(tasks(c)) == 1  # noted once, however many sweeps follow


def test_lateness_is_noted_at_the_due_time_even_on_a_weekend(org, make, policy):
    saturday = berlin(2026, 5, 16, 10, 0)
    c = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        at=MONDAY_9,
        due_in=(saturday - MONDAY_9) * 2,  # one step: due at half of it, Saturday 10:00
    )
    services.accept(c.handoffs[0], org.ivo, MONDAY_9)
    db.session.commit()
    assert fresh(c.handoffs[0]).due_at == saturday
    sweep(saturday)
    assert owner_of(c) == (org.installation.id, org.ivo.id)
    [task] = tasks(c)
    assert task.due_at == berlin(2026, 5, 18, 10, 0)  # two business hours from Monday 08:00
    assert task_nags(task) == []  # nobody is told on a Saturday
    sweep(berlin(2026, 5, 18, 8, 0))
    assert task_nags(task) == [(0, org.ivo.email)]


def test_nothing_moves_when_no_promise_breaks(org, make, policy):
    on_time = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.accept(on_time.handoffs[0], org.ivo, MONDAY_9)
    services.complete(on_time.handoffs[0], org.ivo, MONDAY_9 + timedelta(hours=3))
    earlier = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    sooner = earlier.promised_at - timedelta(hours=1)
    services.counter(earlier.handoffs[0], org.ivo, MONDAY_9, due_at=sooner, terms="")
    services.take_counter(earlier.handoffs[0], org.ana, MONDAY_9 + timedelta(hours=1))
    services.complete(earlier.handoffs[0], org.ivo, MONDAY_9 + timedelta(hours=2))
    rejected = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    later = rejected.promised_at + timedelta(days=3)
    services.counter(rejected.handoffs[0], org.ivo, MONDAY_9, due_at=later, terms="")
    services.reject_counter(rejected.handoffs[0], org.ana, MONDAY_9, "The customer needs it")
    db.session.commit()
    sweep(MONDAY_9 + timedelta(days=10))  # long past every due time: only the open ones nag
    for c in (on_time, earlier, rejected):
        assert tasks(c) == []
        assert owner_of(c) == (org.sales.id, org.ana.id)


def test_with_the_rule_off_the_promiser_keeps_the_conversation_and_tells(
    org, make, policy, rule_off
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.decline(c.handoffs[0], org.ivo, MONDAY_9, "No technician free")
    db.session.commit()
    assert owner_of(c) == (org.sales.id, org.ana.id)
    [task] = tasks(c)
    assert (task.department_id, task.person_id) == (org.sales.id, org.ana.id)
    assert events(c, "owner_moved") == []
    [event] = events(c, "tell_customer")
    assert event.words == (
        "The customer must be told that Installation declined: Sales tells them by"
    )


def test_the_deadline_is_the_organisation_setting_in_business_time(org, make, policy):
    set_ownership(tell_minutes=30)
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.decline(c.handoffs[0], org.ivo, berlin(2026, 5, 15, 16, 45), "No")  # a Friday
    db.session.commit()
    [task] = tasks(c)
    assert task.due_at == berlin(2026, 5, 18, 8, 15)  # 15 minutes Friday, 15 on Monday


def test_a_later_break_passes_the_open_task_on(org, make, policy):
    c = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation, org.billing],
        at=MONDAY_9,
        due_in=timedelta(days=4),
    )
    services.accept(c.handoffs[0], org.ivo, MONDAY_9)
    services.decline(c.handoffs[1], org.dev, MONDAY_9 + timedelta(hours=1), "Unpaid invoices")
    db.session.commit()
    assert owner_of(c) == (org.billing.id, org.dev.id)
    installation_due = fresh(c.handoffs[0]).due_at
    sweep(installation_due)  # Installation is late too
    first, second = tasks(c)
    assert (first.outcome, first.note) == (
        "passed_on",
        "passed on to Installation when Installation is past its due time and not done",
    )
    assert second.is_open and second.department_id == org.installation.id
    assert owner_of(c) == (org.installation.id, org.ivo.id)


# --- the task is nagged like a handoff until someone marks it told ---------------------------


def test_the_task_is_nagged_and_escalated_until_marked_told(org, make, policy):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.decline(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 16, 0), "No technician free")
    db.session.commit()
    [task] = tasks(c)
    sweep(berlin(2026, 5, 11, 16, 0))  # the notice, at once
    assert task_nags(task) == [(0, org.ivo.email)]
    [mail] = messages(org.ivo.email)
    assert "Tell the customer: Installation declined" in mail.body_text
    assert "One customer must be told that a promise changed." in mail.body_text
    assert "Tell them by Tue 12 May 09:00" in mail.body_text
    sweep(berlin(2026, 5, 11, 20, 0))
    sweep(berlin(2026, 5, 12, 8, 59))
    assert len(task_nags(task)) == 1  # nothing more before the deadline
    sweep(berlin(2026, 5, 12, 9, 0))  # the deadline: reminder 1
    sweep(berlin(2026, 5, 12, 13, 0))  # reminder 2, four business hours later
    sweep(berlin(2026, 5, 13, 8, 0))  # reminder 3 reaches the leads
    assert task_nags(task) == [
        (0, org.ivo.email),
        (1, org.ivo.email),
        (2, org.ivo.email),
        (3, org.ben.email),
        (3, org.ivo.email),
    ]
    assert "Escalated to Installation's leads" in nag_events(c)
    assert mark_told(fresh(task), org.ivo, berlin(2026, 5, 13, 9, 0), "Called; Friday is fine")
    db.session.commit()
    sweep(berlin(2026, 5, 13, 12, 0))
    sweep(berlin(2026, 5, 14, 12, 0))
    assert len(task_nags(task)) == 5  # told: nothing more
    assert fresh(task).next_nag_at is None
    [told] = events(c, "told")
    assert told.words == "Ivo Berg (Installation) told the customer: Called; Friday is fine"


def test_a_sweep_run_twice_sends_a_task_notice_once(org, make, policy):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.decline(c.handoffs[0], org.ivo, MONDAY_9, "No")
    db.session.commit()
    [task] = tasks(c)
    sweep(MONDAY_9)
    task = fresh(task)
    task.next_nag_at, task.nags_sent = MONDAY_9, 0  # as a second scheduler saw it: stale
    db.session.commit()
    sweep(MONDAY_9)
    assert task_nags(task) == [(0, org.ivo.email)]


def test_marking_told_is_for_the_owning_department_needs_a_note_and_counts_once(org, make, policy):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.decline(c.handoffs[0], org.ivo, MONDAY_9, "No")
    db.session.commit()
    [task] = tasks(c)
    with pytest.raises(NotAllowed, match="Only members of Installation"):
        mark_told(task, org.dev, MONDAY_9, "Called")
    with pytest.raises(InvalidInput, match="Say what the customer was told"):
        mark_told(task, org.ivo, MONDAY_9, "   ")
    db.session.rollback()
    assert fresh(task).is_open
    assert mark_told(fresh(task), org.ivo, MONDAY_9, "Called") is True
    db.session.commit()
    assert mark_told(fresh(task), org.ivo, MONDAY_9, "Called") is False  # the same, harmless
    with pytest.raises(Conflict, match="Ivo Berg already marked it told"):
        mark_told(fresh(task), org.ben, MONDAY_9, "Emailed them")
    db.session.rollback()
    assert fresh(task).note == "Called"
    assert len(events(c, "told")) == 1
