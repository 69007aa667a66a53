"""Holidays imported from an iCalendar file: read, shown day by day, added only when asked."""

import io
from datetime import date, timedelta

import pytest

from handoff.departments.calendars import KNOWN, NEW, NOT_WORKED, PARTIAL, read_holidays
from handoff.departments.hours import WorkingHours
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput

from conftest import fresh
from nagging_helpers import set_policy

WEEKDAYS = frozenset(range(5))


def calendar(*events: str) -> bytes:
    body = "\r\n".join(
        ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Handoff tests//EN", *events, "END:VCALENDAR"]
    )
    return body.encode()


def all_day(uid: str, start: date, name: str, end: date | None = None, rule: str = "") -> str:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{uid}",
        f"DTSTART;VALUE=DATE:{start:%Y%m%d}",
        f"SUMMARY:{name}",
    ]
    if end:
        lines.append(f"DTEND;VALUE=DATE:{end:%Y%m%d}")
    if rule:
        lines.append(f"RRULE:{rule}")
    return "\r\n".join([*lines, "END:VEVENT"])


TODAY = date(2026, 12, 7)  # a Monday


def test_each_day_of_an_all_day_event_repeats_unrolled_past_days_left_out():
    found = read_holidays(
        calendar(
            all_day("a", date(2026, 12, 24), "Christmas closure", end=date(2026, 12, 29)),
            all_day("b", date(2027, 1, 1), "New Year", rule="FREQ=YEARLY"),
            all_day("c", date(2026, 11, 1), "All Saints"),  # past
            "BEGIN:VEVENT\r\nUID:d\r\nDTSTART:20261231T120000Z\r\nDTEND:20261231T170000Z\r\n"
            "SUMMARY:Half day\r\nEND:VEVENT",
        ),
        today=TODAY,
        known=frozenset({date(2026, 12, 24)}),
        work_days=WEEKDAYS,
    )
    seen = {(f.day, f.outcome) for f in found}
    assert (date(2026, 12, 24), KNOWN) in seen
    assert (date(2026, 12, 25), NEW) in seen  # a Friday
    assert (date(2026, 12, 26), NOT_WORKED) in seen and (date(2026, 12, 27), NOT_WORKED) in seen
    assert (date(2026, 12, 28), NEW) in seen and (date(2026, 12, 29), NEW) not in seen  # end
    assert (date(2026, 12, 31), PARTIAL) in seen
    assert {f.day for f in found if f.name == "New Year"} == {
        date(2027, 1, 1),
        date(2028, 1, 1),
        date(2029, 1, 1),
    }
    assert all(f.day >= TODAY for f in found)
    assert [f.day for f in found] == sorted(f.day for f in found)


@pytest.mark.parametrize(
    "data, words",
    [
        (b"this is not a calendar", "not an iCalendar"),
        (b"BEGIN:VEVENT\r\nUID:x\r\nEND:VEVENT", "no calendar"),
        (b"\xff\xfe\x00garbage", "not an iCalendar"),
        (
            calendar(all_day("x", date(2026, 12, 8), "Every day", rule="FREQ=DAILY")),
            "more than 400 new days off",
        ),
    ],
)
def test_what_is_no_holiday_calendar_is_refused_with_a_reason(data, words):
    with pytest.raises(InvalidInput, match=words):
        read_holidays(data, today=TODAY, known=frozenset(), work_days=WEEKDAYS)


@pytest.fixture
def admin_client(client, sign_in, org):
    set_policy()
    return sign_in(client, org.admin)


def upload(client, url: str, data: bytes, name: str = "holidays.ics"):
    return client.post(
        url,
        data={"calendar": (io.BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def test_the_admin_sees_the_days_first_and_adds_them_with_one_click(admin_client, org, now):
    soon = now.date() + timedelta(days=30)
    while soon.weekday() >= 5:
        soon += timedelta(days=1)
    data = calendar(all_day("a", soon, "Company day"))
    url = f"/admin/policies/{org.installation.id}"
    page = admin_client.get(url)
    assert 'enctype="multipart/form-data"' in page.text and "Import holidays" in page.text

    preview = upload(admin_client, f"{url}/holidays/preview", data)
    assert preview.status_code == 200
    assert "Company day" in preview.text and "1 day to add" in preview.text
    assert WorkingHours.own(org.installation.id) is None  # nothing saved yet

    days = soon.isoformat()
    added = admin_client.post(f"{url}/holidays", data={"days": days}, follow_redirects=True)
    assert added.status_code == 200 and "1 holiday added to Installation" in added.text
    db.session.rollback()
    assert soon in WorkingHours.own(org.installation.id).holiday_dates
    assert WorkingHours.organisation().holiday_dates == frozenset()  # only Installation's

    again = upload(admin_client, f"{url}/holidays/preview", data)
    assert "nothing to add" in again.text and "a holiday already" in again.text


def test_a_bad_file_is_said_beside_the_field_and_nothing_changes(admin_client, org):
    url = f"/admin/policies/{org.installation.id}"
    before = fresh(WorkingHours.organisation()).holidays
    refused = upload(admin_client, f"{url}/holidays/preview", b"nonsense")
    assert refused.status_code == 422
    assert 'id="calendar-errors"' in refused.text and "not an iCalendar" in refused.text
    wrong = upload(admin_client, f"{url}/holidays/preview", b"x", name="holidays.pdf")
    assert wrong.status_code == 422 and "whose name ends in .ics" in wrong.text
    binary = upload(admin_client, f"{url}/holidays/preview", b"\xff\xfe\x00garbage\x01")
    assert "garbage" not in binary.text  # (the file's bytes are not echoed back)
    missing = admin_client.post(f"{url}/holidays/preview", data={})
    assert missing.status_code == 422
    forged = admin_client.post(f"{url}/holidays", data={"days": "2026-02-30"})
    assert forged.status_code == 422 and "is not a date" in forged.text
    assert WorkingHours.own(org.installation.id) is None
    assert fresh(WorkingHours.organisation()).holidays == before


def test_only_admins_import_holidays(client, sign_in, org):
    sign_in(client, org.ben)
    url = f"/admin/policies/{org.installation.id}/holidays"
    assert client.post(url, data={"days": "2027-01-04"}).status_code == 403
    assert upload(client, f"{url}/preview", calendar()).status_code == 403


def test_every_hostile_calendar_is_read_or_refused_never_an_error():
    from test_fuzz_routes import CALENDARS  # (the files the route fuzzing uploads)

    for data in CALENDARS:
        try:
            found = read_holidays(data, today=TODAY, known=frozenset(), work_days=WEEKDAYS)
        except InvalidInput as refused:
            assert refused.field == "calendar"
        else:
            assert sum(f.outcome == NEW for f in found) <= 400


def test_repeats_within_a_day_are_refused_before_they_are_unrolled():
    every_second = calendar(
        all_day("x", date(2026, 12, 8), "Ticker", rule="FREQ=DAILY;BYHOUR=1,2;BYMINUTE=5")
    )
    with pytest.raises(InvalidInput, match="repeats within a day"):
        read_holidays(every_second, today=TODAY, known=frozenset(), work_days=WEEKDAYS)


def test_the_example_calendar_in_the_docs_reads():
    from pathlib import Path

    data = (Path(__file__).resolve().parent.parent / "docs" / "company-holidays.ics").read_bytes()
    found = read_holidays(data, today=TODAY, known=frozenset(), work_days=WEEKDAYS)
    names = {f.name for f in found if f.outcome == NEW}
    assert {"Christmas Eve", "Between the years", "Company day"} <= names
