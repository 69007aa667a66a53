"""The sweep at chosen moments: window, cadence, escalation, business hours, exactly once."""

from datetime import timedelta

import pytest

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.mail import OutboxMessage
from handoff.nagging.models import Nag
from handoff.nagging.sweep import sweep

from conftest import fresh, writes
from nagging_helpers import berlin, count, messages, nag_events, nags, set_policy

MONDAY_9 = berlin(2026, 5, 11, 9, 0)  # policy: Mon–Fri 08–17, answer within 2 h, every 4 h


@pytest.fixture
def policy(app):
    return set_policy()


@pytest.fixture
def waiting(org, make, policy):
    """Installation was asked on Monday 09:00 and has not answered."""
    return make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=9)
    )


def test_nothing_is_sent_before_the_window_runs_out(waiting):
    assert sweep(MONDAY_9 + timedelta(hours=1, minutes=59)).reminders == 0
    assert nags() == []


def test_the_first_reminder_goes_out_when_the_window_runs_out(waiting, org):
    report = sweep(berlin(2026, 5, 11, 11, 0))
    assert report.reminders == 1
    [nag] = nags()
    assert (nag.number, nag.level, nag.recipient_email) == (1, 0, org.ivo.email)  # not the lead
    assert nag_events(waiting) == [
        f"Reminder 1 to Installation: waiting for an answer — {org.ivo.email}"
    ]
    handoff = fresh(waiting.handoffs[0])
    assert handoff.nag_count == 1 and handoff.first_nagged_at == berlin(2026, 5, 11, 11, 0)
    assert handoff.next_nag_at == berlin(2026, 5, 11, 15, 0)


def test_reminders_repeat_on_the_cadence_in_business_time_and_escalate(waiting, org):
    sweep(berlin(2026, 5, 11, 11, 0))
    assert sweep(berlin(2026, 5, 11, 14, 59)).reminders == 0
    assert sweep(berlin(2026, 5, 11, 15, 0)).reminders == 1
    # 15:00 + 4 business hours: 2 on Monday, 2 on Tuesday morning
    assert fresh(waiting.handoffs[0]).next_nag_at == berlin(2026, 5, 12, 10, 0)
    third = sweep(berlin(2026, 5, 12, 10, 0))
    assert third.escalations == 1
    recipients = {n.recipient_email for n in nags() if n.number == 3}
    assert recipients == {org.ivo.email, org.ben.email}  # the lead joins after 2 reminders
    assert "Escalated to Installation's leads" in nag_events(waiting)
    assert fresh(waiting.handoffs[0]).escalated_at == berlin(2026, 5, 12, 10, 0)
    sweep(berlin(2026, 5, 12, 14, 0))
    sweep(berlin(2026, 5, 13, 9, 0))  # the fifth goes to the organisation's contact too
    fifth = {n.recipient_email for n in nags() if n.number == 5}
    assert fifth == {org.ivo.email, org.ben.email, "duty@example.com"}
    assert "Escalated to the organisation's escalation contact" in nag_events(waiting)
    sweep(berlin(2026, 5, 13, 13, 0))
    sixth = {n.recipient_email for n in nags() if n.number == 6}
    assert sixth == fifth  # repeats keep their cadence but the list stops growing


def test_nothing_goes_out_outside_business_hours_it_is_deferred(waiting, org):
    report = sweep(berlin(2026, 5, 11, 20, 0))  # the window ran out at 11:00; nobody swept
    assert (report.reminders, report.deferred) == (0, 1)
    assert fresh(waiting.handoffs[0]).next_nag_at == berlin(2026, 5, 12, 8, 0)
    assert sweep(berlin(2026, 5, 12, 8, 0)).reminders == 1


def test_nothing_is_sent_once_the_handoff_is_answered(waiting, org):
    with_answer = berlin(2026, 5, 11, 10, 30)
    services.accept(waiting.handoffs[0], org.ivo, with_answer)
    db.session.commit()
    assert sweep(berlin(2026, 5, 11, 11, 0)).reminders == 0
    assert sweep(berlin(2026, 5, 12, 11, 0)).reminders == 0
    assert nags() == []


def test_a_second_sweep_at_the_same_moment_sends_nothing_more(waiting):
    moment = berlin(2026, 5, 11, 11, 0)
    first = sweep(moment)
    second = sweep(moment)
    assert (first.reminders, first.digests) == (1, 1)
    assert (second.reminders, second.digests) == (0, 0)
    assert count(Nag) == 1 and count(OutboxMessage) == 1


def test_after_an_outage_one_catch_up_reminder_and_the_cadence_counts_from_it(waiting):
    report = sweep(berlin(2026, 5, 11, 14, 0))  # due at 11:00, the nagger was down till 14:00
    assert report.reminders == 1
    assert fresh(waiting.handoffs[0]).next_nag_at == berlin(2026, 5, 12, 9, 0)


def test_friday_1759_gets_exactly_one_reminder_on_monday_morning(org, make, policy):
    friday = berlin(2026, 5, 15, 17, 59)
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=friday, due_in=timedelta(days=9)
    )
    moment = berlin(2026, 5, 15, 18, 0)  # the scheduler sweeps on the quarter hour
    while moment < berlin(2026, 5, 18, 10, 30):
        sweep(moment)
        moment += timedelta(minutes=15)
    assert [n.created_at for n in nags()] == [berlin(2026, 5, 18, 10, 0)]


@pytest.mark.parametrize(
    ("start", "end", "first_expected"),
    [
        # Summer time starts on Sunday 29 March 2026 at 02:00
        (berlin(2026, 3, 27, 16, 0), berlin(2026, 3, 30, 12, 0), berlin(2026, 3, 30, 9, 0)),
        # Winter time starts on Sunday 25 October 2026 at 03:00
        (berlin(2026, 10, 23, 16, 0), berlin(2026, 10, 26, 12, 0), berlin(2026, 10, 26, 9, 0)),
    ],
)
def test_across_a_dst_change_reminders_keep_to_local_business_hours(
    org, make, policy, start, end, first_expected
):
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=start, due_in=timedelta(days=9)
    )
    moment = start
    while moment < end:
        sweep(moment)
        moment += timedelta(minutes=15)
    sent = nags()
    assert sent[0].created_at == first_expected  # 1 h on Friday, 1 h on Monday
    for nag in sent:
        local = nag.created_at.astimezone(berlin(2026, 1, 1).tzinfo)
        assert local.weekday() < 5 and 8 <= local.hour < 17


def test_a_holiday_defers_the_reminder_to_the_next_working_day(org, make, app):
    set_policy(holidays="2026-05-12")  # Tuesday
    make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        at=berlin(2026, 5, 11, 16, 0),
        due_in=timedelta(days=9),
    )
    for hour in range(24 * 2):
        sweep(berlin(2026, 5, 11, 16, 0) + timedelta(hours=hour))
    sent = nags()
    assert sent[0].created_at == berlin(2026, 5, 13, 9, 0)  # 1 h Monday, none on Tuesday
    assert all(n.created_at.astimezone(sent[0].created_at.tzinfo).day != 12 for n in sent)


def test_public_holidays_of_a_country_count(org, make, app):
    set_policy(holiday_country="DE")
    make.commitment(  # 14 May 2026 is Ascension Day in Germany
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 13, 16, 0)
    )
    for hour in range(48):
        sweep(berlin(2026, 5, 13, 16, 0) + timedelta(hours=hour))
    assert nags()[0].created_at == berlin(2026, 5, 15, 9, 0)


def test_a_department_with_nobody_to_mail_is_escalated_and_the_problem_shown(
    org, make, policy, client, sign_in
):
    legal = make.department("Legal")
    c = make.commitment(by=org.ana, owner=org.sales, route=[legal], at=MONDAY_9)
    sweep(berlin(2026, 5, 11, 11, 0))
    assert [n.recipient_email for n in nags()] == ["duty@example.com"]
    events = nag_events(c)
    assert any("nobody in Legal can receive reminders" in e for e in events)
    archive = make.department("Archive")  # its only member has left: nobody either
    with writes():
        make.person("Gone", member_of=[archive]).active = False
    sign_in(client, org.ana)
    warning = client.get("/").get_data(as_text=True).split("Nobody can receive reminders for ")
    assert warning[1].split(":")[0] == "Archive, Legal"  # (every other has someone active)


def test_each_person_gets_one_digest_per_sweep_most_urgent_first(org, make, policy):
    first = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    second = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation, org.billing], at=MONDAY_9
    )
    report = sweep(berlin(2026, 5, 11, 11, 0))
    assert report.reminders == 3
    [digest] = messages(org.ivo.email)
    assert "2 handoffs for you" in digest.subject
    text = digest.body_text
    earlier, later = sorted((first, second), key=lambda c: c.handoffs[0].due_at)
    assert text.index(earlier.reference) < text.index(later.reference)
    [dev_digest] = messages(org.dev.email)
    assert dev_digest.subject.startswith(f"[Handoff] {second.reference} ")
    assert len(messages()) == 2


def test_at_most_one_digest_per_address_within_the_limit(org, make, app):
    set_policy(ack_window_minutes=10, cadence_minutes=5)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    sweep(MONDAY_9 + timedelta(minutes=10))
    sweep(MONDAY_9 + timedelta(minutes=15))  # a reminder, but the address had mail 5 min ago
    assert len(messages(org.ivo.email)) == 1
    assert len(nags()) == 2
    sweep(MONDAY_9 + timedelta(minutes=25))  # after 15 min the waiting reminders go out
    assert len(messages(org.ivo.email)) == 2
    assert {n.number for n in nags() if n.recipient_email == org.ivo.email} == {1, 2, 3}


def test_a_counter_nags_the_owner_side_on_the_same_terms(org, make, policy):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9)
    services.counter(
        c.handoffs[0], org.ivo, berlin(2026, 5, 11, 10, 0), due_at=None, terms="Only mornings"
    )
    db.session.commit()
    sweep(berlin(2026, 5, 11, 12, 0))
    [nag] = nags()
    assert (nag.kind, nag.recipient_email) == ("settle", org.ana.email)
    assert "a counter waits to be settled" in nag_events(c)[0]
    assert "Sales has no members to remind, only its leads" in nag_events(c)[-1]


def test_accepted_work_gets_a_due_soon_reminder_then_a_late_notice(org, make, policy):
    c = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        at=MONDAY_9,
        due_in=timedelta(days=2),  # the handoff is due Tuesday 09:00
    )
    services.accept(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30))
    db.session.commit()
    due = fresh(c.handoffs[0]).due_at
    assert due == berlin(2026, 5, 12, 9, 0)
    sweep(berlin(2026, 5, 11, 13, 59))
    assert nags() == []
    sweep(berlin(2026, 5, 11, 14, 0))  # 4 business hours before Tuesday 09:00
    assert [(n.kind, n.recipient_email) for n in nags()] == [("due_soon", org.ivo.email)]
    sweep(berlin(2026, 5, 12, 9, 0))
    late = [n for n in nags() if n.kind == "late"]
    # late, Installation now talks to the customer too: it is told both, in one digest
    assert {n.recipient_email for n in late} == {org.ivo.email}
    assert {(n.kind, n.number, n.recipient_email) for n in nags() if n.task_id} == {
        ("tell", 0, org.ivo.email),
        ("handover", 0, org.ana.email),  # Sales talked to the customer until now: told once
    }
    services.complete(c.handoffs[0], org.ivo, berlin(2026, 5, 12, 9, 30))
    db.session.commit()
    assert sweep(berlin(2026, 5, 12, 13, 0)).reminders == 0


def test_with_the_rule_off_late_notices_also_reach_the_promiser(org, make, policy, rule_off):
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=2)
    )
    services.accept(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 9, 0))
    late = [n for n in nags() if n.kind == "late"]
    assert {n.recipient_email for n in late} == {org.ivo.email, org.ana.email}  # + customer owner
    assert {n.recipient_email for n in nags() if n.task_id} == {org.ana.email}  # Sales tells


def test_late_notices_reach_the_customer_owner_only_in_its_own_hours(org, make, policy, rule_off):
    set_policy(org.sales, time_zone="America/New_York", day_start="09:00", day_end="17:00")
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=2)
    )
    services.accept(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 9, 0))  # late at 09:00 Berlin: 03:00 in New York, Sales sleeps
    late = {n.recipient_email: n for n in nags() if n.kind == "late"}
    assert set(late) == {org.ivo.email, org.ana.email}  # recorded for both, not dropped
    assert len(messages(org.ivo.email)) == 1
    assert messages(org.ana.email) == []  # held for Sales's hours
    assert late[org.ana.email].mail_after == berlin(2026, 5, 12, 15, 0)  # 09:00 New York
    sweep(berlin(2026, 5, 12, 14, 45))
    assert messages(org.ana.email) == []
    sweep(berlin(2026, 5, 12, 15, 0))
    [told] = messages(org.ana.email)
    assert c.reference in told.subject and "Late" in told.body_text


def test_the_customer_owner_is_not_told_of_late_work_done_before_its_hours_open(
    org, make, policy, rule_off
):
    set_policy(org.sales, time_zone="America/New_York", day_start="09:00", day_end="17:00")
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=2)
    )
    services.accept(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 9, 0))
    services.complete(fresh(c.handoffs[0]), org.ivo, berlin(2026, 5, 12, 10, 0))
    db.session.commit()
    sweep(berlin(2026, 5, 12, 15, 0))
    held = [n for n in nags() if n.kind == "late" and n.recipient_email == org.ana.email]
    [digest] = messages(org.ana.email)  # Sales still tells the customer (the rule is off)
    assert "Tell the customer" in digest.body_text and "Late: due" not in digest.body_text
    assert [(n.message_id, n.drop_reason) for n in held] == [(None, "it is done now")]
    assert any(f"not mailed to {org.ana.email}: it is done now" in e for e in nag_events(c))


def test_a_round_that_records_many_reminders_renews_the_statistics_of_them(
    waiting, org, monkeypatch
):
    """On PostgreSQL: the digest step is planned with the new reminder rows counted."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the planner's statistics are PostgreSQL's")
    from handoff.nagging import sweep as sweep_module

    def analysed() -> int:
        db.session.rollback()  # (a fresh snapshot of the statistics views)
        return db.session.execute(
            db.text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'nag'")
        ).scalar()

    before = analysed()
    report = sweep(berlin(2026, 5, 11, 11, 0))  # one reminder: below the threshold
    assert report.rows == report.reminders == 1
    assert analysed() == before
    monkeypatch.setattr(sweep_module, "ANALYZE_AFTER", 1)
    sweep(berlin(2026, 5, 11, 15, 0))  # the second reminder: at the threshold
    assert analysed() == before + 1


def test_the_search_for_work_newly_late_reads_its_own_index_in_order(app):
    """Every round asks for accepted work past its time not yet noted late: the planners read
    the index of exactly those rows, in its order, however much late work was noted before
    (PostgreSQL otherwise read through every accepted handoff past its time)."""
    from sqlalchemy import event

    asked = []

    def keep(conn, cursor, statement, parameters, context, executemany):
        if "late_noted_at IS NULL" in statement:
            asked.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", keep)
    try:
        services.note_late_handoffs(berlin(2026, 5, 11, 11, 0))
    finally:
        event.remove(db.engine, "before_cursor_execute", keep)
    [(statement, parameters)] = asked
    connection = db.session.connection()
    if db.engine.dialect.name == "postgresql":
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")  # (the tables are small)
        plan = " ".join(
            row[0] for row in connection.exec_driver_sql("EXPLAIN " + statement, parameters)
        )
        assert "ix_handoff_late" in plan and "Sort" not in plan, plan
    else:
        plan = " ".join(
            row[-1]
            for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        )
        assert "INDEX ix_handoff_late" in plan and "TEMP B-TREE" not in plan, plan
    db.session.rollback()
