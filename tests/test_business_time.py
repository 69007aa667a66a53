"""Business time, property-tested across weekends, holidays and both DST changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.nagging.business_time import BusinessHours, NoBusinessTime

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# 2026 switches: Europe on 29 March and 25 October, the US on 8 March and 1 November.
HOLIDAYS = frozenset({date(2026, 3, 30), date(2026, 12, 25), date(2026, 12, 24)})
HOURS = [
    BusinessHours(BERLIN, time(8), time(17), holidays=HOLIDAYS),
    BusinessHours(NEW_YORK, time(9), time(17, 30), frozenset({0, 1, 2, 3, 5})),
    BusinessHours(ZoneInfo("Asia/Kolkata"), time(0), time(23, 59), frozenset(range(7))),
]

moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)
minutes = st.integers(min_value=1, max_value=60 * 24 * 12)
hours_of = st.sampled_from(HOURS)


def local(hours: BusinessHours, moment: datetime) -> datetime:
    return moment.astimezone(hours.zone)


@settings(max_examples=300, deadline=None)
@given(hours_of, moments, minutes)
def test_adding_lands_inside_the_hours_of_a_working_day(hours, moment, amount):
    result = hours.add(moment, amount)
    when = local(hours, result)
    assert hours.is_work_day(when.date())
    assert hours.start <= when.time().replace(tzinfo=None) < hours.end
    assert hours.is_open(result)
    assert result > moment


@settings(max_examples=300, deadline=None)
@given(hours_of, moments, minutes)
def test_the_minutes_added_are_the_minutes_counted(hours, moment, amount):
    result = hours.add(moment, amount)
    assert hours.minutes_between(moment, result) == pytest.approx(amount)


@settings(max_examples=200, deadline=None)
@given(hours_of, moments, minutes, minutes)
def test_adding_in_two_steps_is_adding_once(hours, moment, first, second):
    assert hours.add(hours.add(moment, first), second) == hours.add(moment, first + second)


@settings(max_examples=200, deadline=None)
@given(hours_of, moments, minutes, minutes)
def test_more_minutes_never_end_earlier(hours, moment, a, b):
    assert hours.add(moment, min(a, b)) <= hours.add(moment, max(a, b))


@settings(max_examples=200, deadline=None)
@given(hours_of, moments, minutes)
def test_subtracting_undoes_adding(hours, moment, amount):
    start = hours.add(moment, 1)  # a moment inside the hours
    assert hours.subtract(hours.add(start, amount), amount) == start


@settings(max_examples=200, deadline=None)
@given(hours_of, moments)
def test_next_open_is_open_and_nothing_before_it_is(hours, moment):
    opens = hours.next_open(moment)
    assert opens >= moment
    assert hours.is_open(opens)
    assert hours.minutes_between(moment, opens) == 0


def test_time_running_out_at_closing_ripens_at_the_next_opening():
    berlin = HOURS[0]
    friday_1500 = datetime(2026, 5, 15, 15, 0, tzinfo=BERLIN)
    assert berlin.add(friday_1500, 120) == datetime(2026, 5, 18, 8, 0, tzinfo=BERLIN)


def test_friday_evening_waits_for_monday_morning():
    berlin = HOURS[0]
    friday_1759 = datetime(2026, 5, 15, 17, 59, tzinfo=BERLIN)
    assert berlin.add(friday_1759, 120) == datetime(2026, 5, 18, 10, 0, tzinfo=BERLIN)


def test_a_holiday_has_no_business_time():
    berlin = HOURS[0]
    # Friday 27 March 16:00 + 2 h: one hour on Friday, Monday 30 March is a holiday.
    start = datetime(2026, 3, 27, 16, 0, tzinfo=BERLIN)
    assert berlin.add(start, 120) == datetime(2026, 3, 31, 9, 0, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("day", "zone"),
    [
        (date(2026, 3, 31), BERLIN),  # first working day of summer time (29 March was Sunday)
        (date(2026, 10, 26), BERLIN),  # first working day of winter time
        (date(2026, 3, 9), NEW_YORK),
        (date(2026, 11, 2), NEW_YORK),
    ],
)
def test_a_working_day_keeps_its_wall_clock_hours_across_dst(day, zone):
    hours = BusinessHours(zone, time(8), time(17))
    opens = datetime.combine(day, time(8), tzinfo=zone)
    assert hours.add(opens, 9 * 60 - 1) == datetime.combine(day, time(16, 59), tzinfo=zone)
    # the ninth hour runs out at closing time, so it ripens when the next day opens
    next_day = datetime.combine(day + timedelta(days=1), time(8), tzinfo=zone)
    assert hours.add(opens, 9 * 60) == next_day


def test_a_window_over_the_night_of_the_switch_counts_real_minutes():
    # Open 00:00–06:00 every day: the night of 29 March 2026 has only 5 real hours in Berlin.
    night = BusinessHours(BERLIN, time(0), time(6), frozenset(range(7)))
    assert night.minutes_between(
        datetime(2026, 3, 29, 0, 0, tzinfo=BERLIN), datetime(2026, 3, 29, 6, 0, tzinfo=BERLIN)
    ) == pytest.approx(5 * 60)


def test_hours_that_never_open_say_so():
    never = BusinessHours(BERLIN, work_days=frozenset())
    with pytest.raises(NoBusinessTime):
        never.add(datetime(2026, 1, 1, tzinfo=UTC), 10)
