"""Insights' figures: kept by the domain events, equal to what the record says."""

import html
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest

from handoff.commitments import services
from handoff.demo import build_demo
from handoff.insights.rebuild import (
    _by_department,
    _times_by_department,
    count_from_record,
    kept_department_times,
    kept_department_weeks,
    kept_figures,
    rebuild,
)
from handoff.insights.rollups import week_of
from handoff.kernel.db import db, transaction
from handoff.nagging.sweep import sweep
from handoff.ownership.models import CustomerTask
from handoff.ownership.services import mark_told

from conftest import fresh, writes
from nagging_helpers import BERLIN, berlin, set_policy

MONDAY_9 = berlin(2026, 5, 11, 9, 0)  # Mon–Fri 08–17, answer within 2 h, remind every 4 h


def differences(kept: tuple, counted: tuple) -> list[str]:
    """Where the kept figures and the record disagree, a line each (the checker)."""
    found = []
    for name, k, c in zip(("figures", "answer times", "requests"), kept, counted, strict=True):
        for key in sorted(set(k) | set(c), key=str):
            if k.get(key) != c.get(key):
                found.append(f"{name} {key}: kept {k.get(key)}, record {c.get(key)}")
    return found


def compare() -> list[str]:
    """The checker: the kept figures against the record, and each department's weeks
    against the sum of its rows by promising department."""
    db.session.commit()
    connection = db.session.connection()
    kept = kept_figures(connection)
    found = differences(kept, count_from_record(connection))
    summed = _by_department(kept[0])
    weeks = kept_department_weeks(connection)
    for key in sorted(set(summed) | set(weeks), key=str):
        if summed.get(key) != weeks.get(key):
            found.append(f"department week {key}: kept {weeks.get(key)}, rows {summed.get(key)}")
    summed = _times_by_department(kept[1])
    times = kept_department_times(connection)
    for key in sorted(set(summed) | set(times), key=str):
        if summed.get(key) != times.get(key):
            found.append(f"department times {key}: kept {times.get(key)}, rows {summed.get(key)}")
    return found


def test_the_demos_history_kept_by_events_is_what_its_record_says(app):
    with transaction():
        build_demo(seed=7, progress=lambda line: None)
    found = compare()
    assert found == [], "\n".join(found)
    figures, times, _ = kept_figures(db.session.connection())
    totals = {name: sum(c[name] for c in figures.values()) for name in next(iter(figures.values()))}
    # the demo's history has something of every kind to count
    assert [name for name in totals if totals[name] == 0] == [], totals
    assert sum(times.values()) == totals["answered"]


def test_the_checker_finds_a_count_gone_wrong(app):
    """Planted: counts one too many, answer times moved, a department's week apart from its
    rows; then counted anew from the record, nothing is found."""
    with transaction():
        build_demo(seed=7, progress=lambda line: None, commitments=40)
    assert compare() == []
    connection = db.session.connection()
    connection.exec_driver_sql(  # (the first week's rows)
        "UPDATE week_figures SET reminders = reminders + 1 "
        "WHERE week = (SELECT MIN(week) FROM week_figures)"
    )
    connection.exec_driver_sql("UPDATE answer_time SET minutes = minutes + 100000")
    connection.exec_driver_sql("UPDATE department_week SET declined = declined + 1")
    connection.exec_driver_sql("UPDATE request_week SET answered = answered + 1")
    connection.exec_driver_sql(
        "UPDATE department_answer_time SET handoffs = handoffs + 1 "
        "WHERE week = (SELECT MIN(week) FROM department_answer_time)"
    )
    found = compare()
    assert any("figures" in line and "reminders" in line for line in found), found
    assert any(line.startswith("answer times") for line in found), found
    assert any(line.startswith("department week") for line in found), found
    assert any(line.startswith("requests") for line in found), found
    assert any(line.startswith("department times") for line in found), found
    with transaction():
        rebuild(db.session.connection())
    assert compare() == []


@pytest.fixture
def week(org, make, app):
    """Installation's week of 11 May: three handoffs from Sales, answered as below."""
    set_policy()
    made = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9 + timedelta(hours=h)
        )
        for h in (0, 1, 2)
    ]
    return made


def figures_of(department, owner, monday):
    figures, times, _ = kept_figures(db.session.connection())
    return figures.get((department.id, owner.id, monday)), {
        minutes: n
        for (d, o, w, minutes), n in times.items()
        if (d, o, w) == (department.id, owner.id, monday)
    }


def test_a_weeks_figures_count_what_happened_to_its_handoffs(week, org):
    first, second, third = (c.handoffs[0] for c in week)
    first, second = fresh(first), fresh(second)
    with writes():  # 30 business minutes, then the next morning (Monday 10:00 → Tue 09:00)
        services.accept(first, org.ivo, MONDAY_9 + timedelta(minutes=30))
        services.decline(second, org.ivo, berlin(2026, 5, 12, 9, 0), "No van")
    sweep(berlin(2026, 5, 11, 13, 0))  # the third's window ran out at 13:00: a reminder
    with writes():
        services.counter(
            fresh(third), org.ben, berlin(2026, 5, 11, 14, 0), due_at=None, terms="Mornings"
        )
    db.session.commit()
    counts, times = figures_of(org.installation, org.sales, week_of(MONDAY_9, BERLIN))
    assert counts["handoffs"] == 3
    assert (counts["answered"], counts["in_window"], counts["accepted"]) == (3, 1, 1)
    assert (counts["declined"], counts["countered"], counts["reminders"]) == (1, 1, 1)
    assert counts["tasks"] == 1  # the decline broke the promise
    # 30 min; Mon 10:00 → Tue 09:00 is 7 + 1 = 8 h; Mon 11:00 → 14:00 is 3 h
    assert times == {30: 1, 480: 1, 180: 1}
    assert compare() == []


def test_told_in_time_and_done_late_are_counted(week, org, now):
    first = week[0].handoffs[0]
    with writes():
        services.decline(fresh(first), org.ivo, MONDAY_9 + timedelta(minutes=10), "No van")
    task = db.session.scalars(db.select(CustomerTask)).one()
    with writes():
        mark_told(fresh(task), org.ivo, MONDAY_9 + timedelta(minutes=20), "Called them")
    second = week[1].handoffs[0]
    second = fresh(second)
    with writes():
        services.accept(second, org.ivo, MONDAY_9 + timedelta(hours=2))
        services.complete(second, org.ivo, second.due_at + timedelta(hours=1))
    db.session.commit()
    counts, _ = figures_of(org.installation, org.sales, week_of(MONDAY_9, BERLIN))
    assert (counts["told_in_time"], counts["done_late"], counts["done_on_time"]) == (1, 1, 0)
    assert compare() == []


# --- the pages --------------------------------------------------------------------------------


@pytest.fixture
def answered_week(week, org):
    """The week of 11 May: Installation accepted one in 30 min, declined one the next
    morning (8 h), countered one in 3 h."""
    first, second, third = (fresh(c.handoffs[0]) for c in week)
    with writes():
        services.accept(first, org.ivo, MONDAY_9 + timedelta(minutes=30))
        services.decline(second, org.ivo, berlin(2026, 5, 12, 9, 0), "No van")
        services.counter(third, org.ben, berlin(2026, 5, 11, 14, 0), due_at=None, terms="Later")
    return week


def test_the_page_shows_a_departments_week_as_counted_by_hand(answered_week, org, client, sign_in):
    sign_in(client, org.dev)  # anyone signed in reads insights
    page = client.get("/insights", query_string={"from": "2026-05-11", "to": "2026-05-17"})
    assert page.status_code == 200
    row = page.text[page.text.index(">Installation</a></th>") :].split("</tr>")[0]
    cells = [cell.split(">", 1)[1].split("<")[0].strip() for cell in row.split("<td")[1:]]
    # handoffs, median (30, 180, 480 → 180), 90 % within (480), within the 2 h window 1 of 3
    assert cells[:4] == ["3", "3 h", "8 h", "33 %"]
    assert "Who promises on whose behalf" in page.text
    assert 'aria-label="Sales for Installation: 3 promised, 1 declined, 1 countered, 0 late' in (
        page.text
    )
    assert "<title id=" in page.text and "<desc id=" in page.text  # the chart speaks


def test_the_csv_has_the_same_numbers(answered_week, org, client, sign_in):
    sign_in(client, org.dev)
    period = {"from": "2026-05-11", "to": "2026-05-17", "department": org.installation.id}
    csv_text = client.get("/insights/departments.csv", query_string=period)
    assert csv_text.mimetype == "text/csv"
    lines = csv_text.text.strip().splitlines()
    assert lines[0].startswith("department,handoffs,answered by a person,median answer")
    assert lines[1].startswith("Installation,3,3,180,480,1,0,")
    assert len(lines) == 2  # the department chosen, alone
    pairs = client.get("/insights/pairs.csv", query_string=period).text.splitlines()
    assert pairs[1] == "Sales,Installation,3,1,1,0,180"
    weeks = client.get("/insights/weeks.csv", query_string=period).text.splitlines()
    assert weeks[1].startswith("2026-05-11,Installation,3,3,180,480,")


def test_a_cell_lists_the_commitments_behind_it(answered_week, org, make, client, sign_in):
    other = make.commitment(
        by=org.ana, owner=org.sales, route=[org.billing], at=MONDAY_9 + timedelta(hours=1)
    )
    sign_in(client, org.dev)
    period = {"from": "2026-05-11", "to": "2026-05-17", "department": org.installation.id}
    page = client.get("/insights", query_string=period).text
    # the cell's link, as the page gives it: the pair, the period and the departments chosen
    cell = page[: page.index('aria-label="Sales for Installation:')].rsplit('href="', 1)[1]
    link = html.unescape(cell.split('"')[0])
    asked = parse_qs(urlsplit(link).query)
    assert asked == {
        "department": [str(org.installation.id)],
        "owner": [str(org.sales.id)],
        "shown": [str(org.installation.id)],
        "from": ["2026-05-11"],
        "to": ["2026-05-17"],
    }
    listed = client.get(link).text
    for c in answered_week:
        assert c.reference in listed
    assert other.reference not in listed
    assert "promised by Sales" in listed
    # what happened to each, as the figures count it: one each accepted, declined, countered
    rows = {
        c.reference: listed[listed.index(c.reference) :].split("</tr>")[0] for c in answered_week
    }
    said = sorted(
        next(w for w in ("accepted", "declined", "countered") if f"<td>{w}</td>" in row)
        for row in rows.values()
    )
    assert said == ["accepted", "countered", "declined"]


def test_a_period_the_url_gets_wrong_is_mended_and_said(answered_week, org, client, sign_in):
    sign_in(client, org.dev)
    swapped = client.get("/insights", query_string={"from": "2026-05-17", "to": "2026-05-11"})
    assert swapped.status_code == 200 and "were swapped" in swapped.text
    long = client.get("/insights", query_string={"from": "2001-01-01", "to": "2026-05-11"})
    assert long.status_code == 200 and "At most 106 weeks" in long.text
    nonsense = client.get("/insights", query_string={"from": "soon", "department": "x"})
    assert nonsense.status_code == 200
    assert client.get("/insights/commitments", query_string={"owner": "²"}).status_code == 200


def test_a_lead_sets_targets_and_the_page_marks_them_met_or_missed(
    answered_week, org, client, sign_in
):
    period = {"from": "2026-05-11", "to": "2026-05-17"}
    sign_in(client, org.ivo)  # a member, not a lead
    assert client.get(f"/insights/departments/{org.installation.id}/targets").status_code == 403
    sign_in(client, org.ben)  # Installation's lead
    refused = client.post(
        f"/insights/departments/{org.installation.id}/targets", data={"in_window": "150"}
    )
    assert refused.status_code == 422 and 'id="in_window-errors"' in refused.text
    saved = client.post(
        f"/insights/departments/{org.installation.id}/targets",
        data={"in_window": "90", "on_time": ""},
    )
    assert saved.status_code == 303
    page = client.get("/insights", query_string=period).text
    row = page[page.index(">Installation</a>") :].split("</tr>")[0]
    assert 'class="missed"' in row and "target 90 %" in row  # 1 of 3 within the window
    assert "✗ missed 90 %" in page  # the week, in the numbers under the chart
    assert (
        client.post(
            f"/insights/departments/{org.billing.id}/targets", data={"in_window": "90"}
        ).status_code
        == 403
    )


def test_a_request_accepted_unchanged_again_and_again_is_offered_as_a_standing_promise(
    org, make, client, sign_in
):
    set_policy()
    made = []
    for day in range(7):  # seven requests, each with 8 days' notice (4 business days: a holiday)
        at = MONDAY_9 + timedelta(hours=day)
        made.append(
            make.commitment(
                by=org.ana,
                owner=org.sales,
                route=[org.installation],
                at=at,
                due_in=timedelta(days=8),
            )
        )
    for c in made[:5]:  # five accepted as asked at once
        handoff = fresh(c.handoffs[0])
        with writes():
            services.accept(handoff, org.ben, handoff.requested_at + timedelta(minutes=20))
    handoff = fresh(made[5].handoffs[0])
    with writes():  # one countered first (accepted later, but not as asked): 5 of 6
        services.counter(
            handoff,
            org.ben,
            handoff.requested_at + timedelta(minutes=30),
            due_at=None,
            terms="Only mornings",
        )
    sign_in(client, org.ben)
    period = {"from": "2026-05-11", "to": "2026-05-17"}
    page = client.get("/insights/standing-promises", query_string=period).text
    assert "No request was asked often enough" in page
    for c in made[6:]:  # a sixth accepted as asked: 6 of 7 is still under 90 %, a seventh …
        handoff = fresh(c.handoffs[0])
        with writes():
            services.accept(handoff, org.ben, handoff.requested_at + timedelta(minutes=40))
    assert (
        "No request was asked often enough"
        in client.get("/insights/standing-promises", query_string=period).text
    )
    for _ in range(3):  # three more, accepted as asked: 9 of 10
        c = make.commitment(
            by=org.ana,
            owner=org.sales,
            route=[org.installation],
            at=MONDAY_9,
            due_in=timedelta(days=8),
        )
        handoff = fresh(c.handoffs[0])
        with writes():
            services.accept(handoff, org.ben, handoff.requested_at + timedelta(minutes=10))
    page = client.get("/insights/standing-promises", query_string=period).text
    said = "accepted 9 of 10 “Part of Installation” requests it answered, with 4 or more business"
    assert said in page
    link = page[page.index('href="/departments/') :].split('"')[1].replace("&amp;", "&")
    form = client.get(link).text  # the catalogue's form, filled in
    assert 'value="Part of Installation"' in form and 'value="4"' in form
    assert '<option selected value="days">' in form or 'value="days" selected' in form
    assert compare() == []


def test_a_promise_published_during_the_period_is_not_called_rarely_used(org, app, now):
    from handoff.insights.suggestions import promise_use
    from handoff.promises import services as promise_services

    with writes():
        promise_services.save_promise(
            org.installation,
            org.ben,
            now - timedelta(days=30),
            promise=None,
            name="Old one",
            covers="",
            lead_minutes=60,
            max_amount=None,
            max_quantity=None,
        )
        promise_services.save_promise(
            org.installation,
            org.ben,
            now - timedelta(hours=1),
            promise=None,
            name="New one",
            covers="",
            lead_minutes=60,
            max_amount=None,
            max_quantity=None,
        )
    uses = {u.name: u for u in promise_use(now - timedelta(days=7), now)}
    assert set(uses) == {"Old one", "New one"}  # (both judged by their limits)
    assert uses["Old one"].rarely_used and not uses["New one"].rarely_used


def test_the_most_common_reasons_to_decline_are_listed_most_given_first(org, make, client, sign_in):
    set_policy()
    reasons = ["No van free", "no van  free", "NO VAN FREE", "Needs a signed order"]
    for n, reason in enumerate(reasons):
        c = make.commitment(
            by=org.ana,
            owner=org.sales,
            route=[org.installation],
            at=MONDAY_9 + timedelta(hours=n),
        )
        with writes():
            handoff = fresh(c.handoffs[0])
            services.decline(handoff, org.ben, handoff.requested_at + timedelta(minutes=5), reason)
    sign_in(client, org.dev)
    page = client.get(
        "/insights/standing-promises", query_string={"from": "2026-05-11", "to": "2026-05-17"}
    ).text
    rows = page[page.index("Why departments said no") :].split("</tr>")
    first = next(r for r in rows if "No van free" in r)
    assert "<td>3</td>" in first
    assert any("Needs a signed order" in r and "<td>1</td>" in r for r in rows)


def ben_away_next_week(org, delegate) -> None:
    """Ben, Installation's lead, away the week after `answered_week` (whose mail is due)."""
    from datetime import date

    from handoff.departments import away

    with writes():
        away.mark_away(
            org.ben,
            first_day=date(2026, 5, 18),
            last_day=date(2026, 5, 22),
            delegate=delegate,
            note="",
            actor=org.ben,
            zone=BERLIN,
            now=MONDAY_9,
        )


def test_a_lead_who_is_away_gets_no_weekly_mail(answered_week, org, app):

    from sqlalchemy import select

    from handoff.insights.weekly import write_weekly_reports
    from handoff.mail import OutboxMessage

    ben_away_next_week(org, delegate=None)
    assert write_weekly_reports(berlin(2026, 5, 18, 8, 30)) == 1  # Ana's alone
    db.session.rollback()
    sent = [m.to_address for m in db.session.scalars(select(OutboxMessage))]
    assert sent == [org.ana.email]


def test_an_away_leads_weekly_mail_goes_to_whoever_answers_for_them(answered_week, org, app):
    """Ben leads Installation and is away with Ivo answering for him: Ivo gets Installation's
    week, saying for whom; Ana, here, gets Sales's as before."""

    from sqlalchemy import select

    from handoff.insights.weekly import write_weekly_reports
    from handoff.mail import OutboxMessage

    ben_away_next_week(org, delegate=org.ivo)
    assert write_weekly_reports(berlin(2026, 5, 18, 8, 30)) == 2
    db.session.rollback()
    mails = {m.to_address: m for m in db.session.scalars(select(OutboxMessage))}
    assert sorted(mails) == sorted([org.ana.email, org.ivo.email])
    for_ben = mails[org.ivo.email]
    assert "Installation" in for_ben.subject
    assert "for Ben Okafor, who is away: you answer for them meanwhile" in for_ben.body_text
    assert "for Ben Okafor, who is away: you answer for them meanwhile" in for_ben.body_html
    assert "who is away" not in mails[org.ana.email].body_text


def test_a_median_of_an_even_count_is_halfway_between_the_two_middle_times():
    from handoff.insights.queries import Figures

    four = Figures(answer_minutes=[(28, 1), (35, 1), (167, 1), (735, 1)])
    assert (four.median, four.p90) == (101, 735)  # (35 + 167) / 2
    assert Figures(answer_minutes=[(10, 2), (20, 1)]).median == 10
    assert Figures(answer_minutes=[(10, 2), (21, 2)]).median == 15  # rounded down
    assert Figures(answer_minutes=[]).median is None


@pytest.mark.parametrize(
    "query, said",
    [
        ({"from": "2026-13-45"}, "“2026-13-45” is not a date"),
        ({"to": "abc"}, "“abc” is not a date"),
        ({"from": "1900-01-01"}, "“1900-01-01” is not a date"),
        ({"department": "999"}, "No department “999”: every department is shown."),
        ({"department": "abc"}, "No department “abc”: every department is shown."),
    ],
)
def test_what_the_url_gets_wrong_is_said_and_something_sensible_shown(
    query, said, org, client, sign_in
):
    sign_in(client, org.dev)
    for path in ("/insights", "/insights/standing-promises", "/insights/commitments"):
        page = client.get(path, query_string=query)
        assert page.status_code == 200, path
        assert said in page.text, path


def test_a_cell_list_with_an_owner_that_is_no_department_says_so(org, client, sign_in):
    sign_in(client, org.dev)
    page = client.get(
        "/insights/commitments", query_string={"department": org.installation.id, "owner": "x"}
    )
    assert page.status_code == 200
    assert "No department “x”: whoever promised is shown." in page.text


def test_a_name_a_spreadsheet_would_run_is_written_as_text(answered_week, org, client, sign_in):
    from handoff.departments.models import Department

    db.session.get(Department, org.installation.id).name = "=HYPERLINK(1)"
    db.session.commit()
    sign_in(client, org.dev)
    period = {"from": "2026-05-11", "to": "2026-05-17"}
    for path in ("/insights/departments.csv", "/insights/pairs.csv", "/insights/weeks.csv"):
        text = client.get(path, query_string=period).text
        assert "'=HYPERLINK(1)" in text, path
        assert ",=HYPERLINK" not in text and not text.startswith("="), path
    page = client.get("/insights", query_string={**period, "department": org.installation.id})
    assert f"/insights/pairs.csv?department={org.installation.id}" in page.text


def test_a_charts_words_say_the_weeks_that_missed_either_target():
    from datetime import date
    from types import SimpleNamespace

    from handoff.insights.queries import Figures
    from handoff.insights.routes import _chart

    def week(on_time, late, within, answered):
        f = Figures(answer_minutes=[(30, answered)])
        f.counts.update(done_on_time=on_time, done_late=late, in_window=within, answered=answered)
        return f

    weeks = [(date(2026, 5, 4), week(9, 1, 2, 2)), (date(2026, 5, 11), week(1, 1, 1, 2))]
    chart = _chart("Installation", weeks, SimpleNamespace(in_window=90, on_time=90))
    said = chart["description"]
    assert "week of 11 May: 30 min, 50 % within the window (missed the target of 90 %)" in said
    assert "50 % done on time (missed 90 %)" in said
    assert "The target of 90 % within the window was missed in 1 of 2 weeks." in said
    assert "The target of 90 % done on time was missed in 1 of 2 weeks." in said


def test_a_lead_answering_for_another_lead_gets_the_week_once_saying_so(
    answered_week, org, make, app
):

    from sqlalchemy import select

    from handoff.insights.weekly import write_weekly_reports
    from handoff.mail import OutboxMessage

    zoe = make.person("Zoe Adler", lead_of=[org.installation])
    ben_away_next_week(org, delegate=zoe)
    write_weekly_reports(berlin(2026, 5, 18, 8, 30))
    db.session.rollback()
    mails = [m for m in db.session.scalars(select(OutboxMessage)) if "Installation" in m.subject]
    assert [m.to_address for m in mails] == [zoe.email]
    assert "You get this also for Ben Okafor, who is away" in mails[0].body_text


def test_with_departments_chosen_the_matrix_shows_their_pairs_alone_and_the_way_back_keeps_them(
    answered_week, org, make, client, sign_in
):
    other = make.commitment(  # Sales for Billing: a pair Installation is not part of
        by=org.ana, owner=org.sales, route=[org.billing], at=MONDAY_9 + timedelta(hours=1)
    )
    assert other
    sign_in(client, org.dev)
    period = {"from": "2026-05-11", "to": "2026-05-17"}
    page = client.get("/insights", query_string={**period, "department": org.installation.id})
    assert 'aria-label="Sales for Installation: 3 promised' in page.text
    assert 'aria-label="Sales for Billing' not in page.text
    everyone = client.get("/insights", query_string=period).text
    assert 'aria-label="Sales for Billing: 1 promised' in everyone
    cell = page.text.split('aria-label="Sales for Installation')[0].rsplit('href="', 1)[1]
    listed = client.get(cell.split('"')[0].replace("&amp;", "&")).text
    back = listed.split('">Back to insights')[0].rsplit('href="', 1)[1].replace("&amp;", "&")
    assert f"department={org.installation.id}" in back and "from=2026-05-11" in back
    assert "Part of Installation" in listed  # what was asked, beside when it was due


def test_a_first_week_after_this_one_alone_is_said_as_it_is(org, client, sign_in):
    sign_in(client, org.dev)
    page = client.get("/insights", query_string={"from": "2099-01-05"}).text
    assert "The first week is after this week" in page and "swapped" not in page


def test_counting_anew_is_not_cut_off_as_an_idle_transaction_on_postgresql(org, app):
    """Counting a large record is minutes of Python between statements: the cut-off meant for
    a stalled web request does not end the rebuild's transaction."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the idle-in-transaction cut-off is PostgreSQL's")
    with transaction():
        connection = db.session.connection()
        assert (
            connection.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() != "0"
        )
        rebuild(connection)
        assert (
            connection.exec_driver_sql("SHOW idle_in_transaction_session_timeout").scalar() == "0"
        )
