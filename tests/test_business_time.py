"""Business time, property-tested across weekends, holidays and both DST changes."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from handoff.departments.business_time import BusinessHours, NoBusinessTime
from handoff.promises.rules import describe_lead

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
# 2026 switches: Europe on 29 March and 25 October, the US on 8 March and 1 November.
HOLIDAYS = frozenset({date(2026, 3, 30), date(2026, 12, 25), date(2026, 12, 24)})
HOURS = [
    BusinessHours(BERLIN, time(8), time(17), holidays=HOLIDAYS),
    BusinessHours(NEW_YORK, time(9), time(17, 30), frozenset({0, 1, 2, 3, 5})),
    BusinessHours(ZoneInfo("Asia/Kolkata"), time(0), time(23, 59), frozenset(range(7))),
    BusinessHours.round_the_clock(BERLIN),
]
ROUND_THE_CLOCK = BusinessHours.round_the_clock(BERLIN)

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
    day = local(hours, result).date()
    assert hours.is_work_day(day)
    opens, closes = hours.window(day)
    assert opens <= result < closes
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


def test_counting_across_the_spring_switch_counts_real_minutes_between_local_moments():
    night = BusinessHours(BERLIN, time(0), time(6), frozenset(range(7)))
    # 00:30 CET is 23:30 UTC, 05:00 CEST is 03:00 UTC: three and a half real hours.
    assert night.minutes_between(
        datetime(2026, 3, 29, 0, 30, tzinfo=BERLIN), datetime(2026, 3, 29, 5, 0, tzinfo=BERLIN)
    ) == pytest.approx(3.5 * 60)


def test_adding_across_the_spring_switch_adds_real_minutes_to_a_local_moment():
    night = BusinessHours(BERLIN, time(0), time(6), frozenset(range(7)))
    # 01:00 CET is 00:00 UTC; two real hours later it is 04:00 CEST.
    assert night.add(datetime(2026, 3, 29, 1, 0, tzinfo=BERLIN), 120) == datetime(
        2026, 3, 29, 4, 0, tzinfo=BERLIN
    )


def test_business_time_refuses_a_moment_without_a_zone():
    with pytest.raises(ValueError, match="aware"):
        HOURS[0].add(datetime(2026, 5, 11, 9, 0), 10)


@settings(max_examples=200, deadline=None)
@given(moments, minutes)
def test_round_the_clock_business_time_is_elapsed_time(moment, amount):
    assert ROUND_THE_CLOCK.is_open(moment)
    assert ROUND_THE_CLOCK.next_open(moment) == moment
    assert ROUND_THE_CLOCK.add(moment, amount) == moment + timedelta(minutes=amount)
    assert ROUND_THE_CLOCK.subtract(moment, amount) == moment - timedelta(minutes=amount)
    later = moment + timedelta(minutes=amount)
    assert ROUND_THE_CLOCK.minutes_between(moment, later) == pytest.approx(amount)


def test_round_the_clock_is_open_at_night_at_weekends_and_on_holidays():
    hours = BusinessHours(BERLIN, holidays=HOLIDAYS, always_open=True)
    christmas_night = datetime(2026, 12, 25, 3, 0, tzinfo=BERLIN)  # a Friday, and a holiday
    sunday_night = datetime(2026, 5, 17, 23, 30, tzinfo=BERLIN)
    assert hours.is_open(christmas_night) and hours.is_open(sunday_night)
    assert all(hours.is_work_day(date(2026, 12, 20) + timedelta(days=i)) for i in range(7))


def test_round_the_clock_ignores_hours_that_would_otherwise_be_refused():
    # The stored opening times of a 24/7 policy are not used, so they need not make sense.
    hours = BusinessHours(BERLIN, time(18), time(9), always_open=True)
    assert hours.is_open(datetime(2026, 5, 11, 12, 0, tzinfo=BERLIN))


@pytest.mark.parametrize(
    ("day", "length"),
    [
        (date(2026, 3, 29), 23 * 60),  # Berlin springs forward
        (date(2026, 10, 25), 25 * 60),  # and falls back
        (date(2026, 5, 11), 24 * 60),
    ],
)
def test_a_round_the_clock_window_is_the_whole_local_day(day, length):
    opens, closes = ROUND_THE_CLOCK.window(day)
    assert opens == datetime.combine(day, time(0), tzinfo=BERLIN)
    assert closes == datetime.combine(day + timedelta(days=1), time(0), tzinfo=BERLIN)
    assert ROUND_THE_CLOCK.minutes_between(opens, closes) == length


def test_round_the_clock_four_hours_over_the_spring_switch_end_five_wall_clock_hours_later():
    saturday_2330 = datetime(2026, 3, 28, 23, 30, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK.add(saturday_2330, 4 * 60) == datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK.subtract(datetime(2026, 3, 29, 4, 30, tzinfo=BERLIN), 4 * 60) == (
        saturday_2330
    )


def test_round_the_clock_over_the_autumn_switch_counts_the_hour_that_repeats():
    saturday_2300 = datetime(2026, 10, 24, 23, 0, tzinfo=BERLIN)
    sunday_0500 = datetime(2026, 10, 25, 5, 0, tzinfo=BERLIN)
    assert ROUND_THE_CLOCK.minutes_between(saturday_2300, sunday_0500) == 7 * 60
    assert ROUND_THE_CLOCK.add(saturday_2300, 7 * 60) == sunday_0500


def test_a_round_the_clock_business_day_is_24_hours():
    assert ROUND_THE_CLOCK.day_minutes == 24 * 60
    assert HOURS[0].day_minutes == 9 * 60
    assert describe_lead(3 * 24 * 60 + 90, ROUND_THE_CLOCK) == "3 business days and 1 h 30 min"
