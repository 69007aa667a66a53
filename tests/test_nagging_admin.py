"""Admins set nag policies; the sweep and nagger commands; the scheduler starts once."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.departments.hours import DEFAULT_HOURS, WorkingHours
from handoff.kernel.db import db
from handoff.nagging.models import NagPolicy

from conftest import fresh
from nagging_helpers import berlin, set_policy

GOOD = {
    "time_zone": "America/New_York",
    "work_days": ["0", "1", "2", "3", "4"],
    "day_start": "09:00",
    "day_end": "17:30",
    "holidays": "2026-12-24\n2026-12-31",
    "holiday_country": "us",
    "ack_window_minutes": "60",
    "cadence_minutes": "120",
    "escalate_after": "2",
    "org_escalate_after": "4",
    "due_soon_minutes": "120",
}


def test_only_admins_see_the_policies(client, org, sign_in):
    sign_in(client, org.ana)
    assert client.get("/admin/policies").status_code == 403
    sign_in(client, org.admin)
    page = client.get("/admin/policies").get_data(as_text=True)
    assert "Organisation default" in page and "Installation" in page


def test_an_admin_gives_a_department_its_own_hours_and_open_handoffs_follow(
    client, org, make, sign_in
):
    set_policy()
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    before = fresh(c.handoffs[0]).next_nag_at
    sign_in(client, org.admin)
    response = client.post(f"/admin/policies/{org.installation.id}", data=GOOD)
    assert response.status_code == 303
    db.session.rollback()
    hours = db.session.scalar(select(WorkingHours).filter_by(department_id=org.installation.id))
    assert hours.describe() == "Mon–Fri 09:00–17:30 America/New_York"
    assert hours.holiday_country == "US"
    assert fresh(c.handoffs[0]).next_nag_at != before  # rescheduled under the new policy
    page = client.get("/admin/policies").get_data(as_text=True)
    assert "Mon–Fri 09:00–17:30 America/New_York" in page


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"time_zone": "Mars/Base"}, "time zone name"),
        ({"work_days": []}, "at least one working day"),
        ({"day_end": "08:00"}, "close after it opens"),
        ({"holidays": "christmas"}, "is not a date"),
        ({"holiday_country": "XX"}, "No public holidays are known"),
        ({"cadence_minutes": "0"}, "Number must be between"),
        ({"org_escalate_after": "1"}, "give a larger number"),
    ],
)
def test_a_bad_policy_is_refused_in_place(client, org, sign_in, changes, message):
    sign_in(client, org.admin)
    response = client.post("/admin/policies/organisation", data={**GOOD, **changes})
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.scalar(select(NagPolicy)) is None


def test_open_handoffs_of_a_department_turned_round_the_clock_are_reminded_in_plain_minutes(
    client, org, make, sign_in
):
    set_policy()
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 16, 22, 0)
    )  # a Saturday night: no business time under office hours
    sign_in(client, org.admin)
    data = {**GOOD, "always_open": "y", "ack_window_minutes": "30"}
    assert client.post(f"/admin/policies/{org.installation.id}", data=data).status_code == 303
    assert fresh(c.handoffs[0]).next_nag_at == berlin(2026, 5, 16, 22, 30)


def test_a_round_the_clock_policy_has_business_time_on_public_and_own_holidays(app):
    working = WorkingHours(
        **{**DEFAULT_HOURS, "always_open": True, "holiday_country": "DE", "holidays": "2026-12-24"}
    )
    hours = working.business_hours(2026)
    assert hours.is_open(berlin(2026, 12, 25, 3, 0))  # Christmas Day, at night
    assert hours.add(berlin(2026, 12, 24, 23, 0), 90) == berlin(2026, 12, 25, 0, 30)


def test_a_department_can_return_to_the_organisation_default(client, org, sign_in):
    set_policy(org.installation, time_zone="Asia/Tokyo")
    sign_in(client, org.admin)
    response = client.post(f"/admin/policies/{org.installation.id}", data={"op": "reset"})
    assert response.status_code == 303
    db.session.rollback()
    assert db.session.scalar(select(NagPolicy).filter_by(department_id=org.installation.id)) is None
    assert WorkingHours.own(org.installation.id) is None


def test_the_sweep_command_runs_one_round(app, org, make):
    set_policy(always_open=True, ack_window_minutes=1)  # runs at any hour the tests do
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=make.now - timedelta(minutes=5)
    )
    result = app.test_cli_runner().invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "1 reminders" in result.output and "1 digests written" in result.output
    again = app.test_cli_runner().invoke(args=["sweep"])
    assert "0 reminders" in again.output


def test_the_scheduler_starts_once_and_not_in_the_reloaders_watcher(app_factory, monkeypatch):
    from handoff.nagging import scheduler

    monkeypatch.setattr(scheduler, "_background", None)
    watcher = app_factory()
    watcher.debug = True
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert scheduler.start_in_background(watcher) is None
    started = scheduler.start_in_background(app_factory())
    try:
        assert started is not None and started.running
        assert scheduler.start_in_background(app_factory()) is started
        [job] = started.get_jobs()
        assert job.trigger.interval == timedelta(seconds=60)
    finally:
        started.shutdown(wait=True)  # let its first round finish before the test ends


def test_a_round_sweeps_then_dispatches(app_factory, org, make):
    from handoff.nagging.scheduler import run_round

    set_policy()
    make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 9, 0)
    )
    report, sent = run_round(app_factory(), berlin(2026, 5, 11, 11, 0))
    assert report.reminders == 1 and report.digests == 1
    assert (sent.sent, sent.failed) == (0, 0)  # no SMTP host: the mail waits in the outbox


BERLIN_OFFICE = {
    **GOOD,
    "time_zone": "Europe/Berlin",
    "day_start": "08:00",
    "day_end": "17:00",
    "holidays": "",
    "holiday_country": "",
}


def test_a_counter_waiting_on_the_owner_side_follows_the_owner_sides_new_policy(
    client, org, make, sign_in
):
    # A countered handoff is chased on the promising department's policy (Sales settles it),
    # so a new policy for Sales must plan its reminder again, not only Installation's.
    from handoff.commitments import services

    from conftest import writes

    set_policy()
    at = berlin(2026, 5, 11, 9, 0)
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=at)
    with writes():
        services.counter(c.handoffs[0], org.ivo, at, due_at=None, terms="Only mornings")
    assert fresh(c.handoffs[0]).next_nag_at == berlin(2026, 5, 11, 11, 0)  # Sales: 120 min
    sign_in(client, org.admin)
    response = client.post(
        f"/admin/policies/{org.sales.id}", data={**BERLIN_OFFICE, "ack_window_minutes": "30"}
    )
    assert response.status_code == 303
    assert fresh(c.handoffs[0]).next_nag_at == berlin(2026, 5, 11, 9, 30)


def test_an_open_task_to_tell_the_customer_follows_its_departments_new_policy(
    client, org, make, sign_in
):
    from handoff.commitments import services
    from handoff.nagging.sweep import sweep
    from handoff.ownership.models import CustomerTask

    from conftest import writes

    set_policy()
    at = berlin(2026, 5, 11, 9, 0)
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=at)
    with writes():
        services.decline(c.handoffs[0], org.ivo, berlin(2026, 5, 11, 9, 30), "No technician")
    task = db.session.scalars(select(CustomerTask)).one()
    assert task.due_at == berlin(2026, 5, 11, 11, 30)
    with writes():
        sweep(berlin(2026, 5, 11, 9, 45))  # the notice
        sweep(berlin(2026, 5, 11, 11, 30))  # reminder 1, at the deadline
    assert fresh(task).next_nag_at == berlin(2026, 5, 11, 15, 30)  # every 240 min
    sign_in(client, org.admin)
    response = client.post(
        f"/admin/policies/{org.installation.id}", data={**BERLIN_OFFICE, "cadence_minutes": "60"}
    )
    assert response.status_code == 303
    task = fresh(task)
    assert task.next_nag_at == berlin(2026, 5, 11, 12, 30)  # every 60 min from the last
    assert task.due_at == berlin(2026, 5, 11, 11, 30)  # the deadline it was given stays


def test_a_policy_or_hours_added_and_not_yet_written_are_the_ones_the_rules_read(app, org):
    """The rules read policies without writing the caller's changes first, except hours and
    policies added or removed: those are written, so that the rules find them."""
    from handoff.nagging.models import rules_for

    now = berlin(2026, 5, 11, 9, 0)
    db.session.add(NagPolicy(department_id=org.installation.id, cadence_minutes=17))
    db.session.add(
        WorkingHours(department_id=org.installation.id, **{**DEFAULT_HOURS, "day_start": "06:00"})
    )
    rules = rules_for(org.installation.id, now)  # (no flush in between)
    assert rules.cadence == 17
    assert rules.hours.start.hour == 6
    own = db.session.scalar(select(NagPolicy).where(NagPolicy.department_id == org.installation.id))
    db.session.delete(own)
    assert rules_for(org.installation.id, now).cadence != 17
    db.session.rollback()
