"""People away: no reminders while away, a delegate answers for them and says so, and a
department with nobody here is named."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from handoff.accounts.models import Absence
from handoff.commitments import services
from handoff.commitments.rows import handoff_cards
from handoff.departments import away
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.kernel.timeline import TimelineEvent
from handoff.nagging.sweep import sweep

from conftest import fresh, htmx_headers, writes
from nagging_helpers import berlin, nag_events, nags, set_policy

BERLIN = ZoneInfo("Europe/Berlin")
MONDAY_9 = berlin(2026, 5, 11, 9, 0)  # policy: Mon–Fri 08–17, answer within 2 h, every 4 h


def mark(person, first, last, *, delegate=None, actor=None, now, note=""):
    """`person` away from `first` to `last` (days in Berlin), saved."""
    with writes():
        return away.mark_away(
            person,
            first_day=first,
            last_day=last,
            delegate=delegate,
            note=note,
            actor=actor or person,
            zone=BERLIN,
            now=now,
        )


def absences() -> list[Absence]:
    db.session.rollback()  # (a fresh read: the pages wrote in their own transactions)
    return list(db.session.scalars(select(Absence)))


def today(now) -> date:
    return now.astimezone(BERLIN).date()


# --- marking someone away -------------------------------------------------------------------


def test_an_absence_runs_from_the_first_midnight_to_the_one_after_the_last_day(org):
    absence = mark(org.ivo, date(2026, 5, 12), date(2026, 5, 13), now=MONDAY_9)
    assert absence.starts_at == berlin(2026, 5, 12, 0, 0)
    assert absence.ends_at == berlin(2026, 5, 14, 0, 0)
    assert not absence.covers(berlin(2026, 5, 11, 23, 59))
    assert absence.covers(berlin(2026, 5, 12, 0, 0))
    assert absence.covers(berlin(2026, 5, 13, 23, 59))
    assert not absence.covers(berlin(2026, 5, 14, 0, 0))


@pytest.mark.parametrize(
    "first, last, field, words",
    [
        (date(2026, 5, 13), date(2026, 5, 12), "last_day", "before the first"),
        (date(2026, 5, 1), date(2026, 5, 8), "last_day", "in the past"),
        (date(2026, 5, 12), date(2027, 5, 13), "last_day", "at most a year"),
    ],
)
def test_impossible_days_are_refused_beside_their_field(org, first, last, field, words):
    with pytest.raises(InvalidInput, match=words) as refused:
        mark(org.ivo, first, last, now=MONDAY_9)
    assert refused.value.field == field
    assert absences() == []


def test_a_person_is_not_away_twice_at_once_and_a_delegate_must_be_here(org):
    mark(org.ivo, date(2026, 5, 12), date(2026, 5, 15), now=MONDAY_9)
    with pytest.raises(InvalidInput, match="already away from Tue 12 May to Fri 15 May"):
        mark(org.ivo, date(2026, 5, 14), date(2026, 5, 20), now=MONDAY_9)
    with pytest.raises(InvalidInput, match=r"Ivo Berg is away .* too") as refused:
        mark(org.ben, date(2026, 5, 15), date(2026, 5, 15), delegate=org.ivo, now=MONDAY_9)
    assert refused.value.field == "delegate_id"
    with pytest.raises(InvalidInput, match="nobody answers for themselves"):
        mark(org.ben, date(2026, 5, 18), date(2026, 5, 18), delegate=org.ben, now=MONDAY_9)


def test_a_lead_marks_a_member_away_a_member_marks_only_themselves(org):
    mark(org.ivo, date(2026, 5, 12), date(2026, 5, 12), actor=org.ben, now=MONDAY_9)  # lead
    mark(org.dev, date(2026, 5, 12), date(2026, 5, 12), actor=org.admin, now=MONDAY_9)
    with pytest.raises(NotAllowed):
        mark(org.ben, date(2026, 5, 13), date(2026, 5, 13), actor=org.ivo, now=MONDAY_9)
    with pytest.raises(NotAllowed):  # a lead of another department
        mark(org.dev, date(2026, 5, 13), date(2026, 5, 13), actor=org.ben, now=MONDAY_9)


def test_ending_an_absence_under_way_ends_it_now_one_to_come_is_removed(org):
    running = mark(org.ivo, date(2026, 5, 11), date(2026, 5, 15), now=MONDAY_9)
    coming = mark(org.dev, date(2026, 5, 18), date(2026, 5, 19), now=MONDAY_9)
    with writes():
        away.end_absence(running, org.ivo, BERLIN, MONDAY_9)
        away.end_absence(coming, org.dev, BERLIN, MONDAY_9)
    assert fresh(running).ends_at == MONDAY_9 and fresh(running).last_day == date(2026, 5, 11)
    assert db.session.get(Absence, coming.id) is None
    with pytest.raises(NotAllowed):
        away.end_absence(fresh(running), org.dev, BERLIN, MONDAY_9)


# --- reminders go to the delegate -----------------------------------------------------------


@pytest.fixture
def waiting(org, make, app):
    """Installation (Ivo a member, Ben its lead) was asked on Monday 09:00."""
    set_policy()
    return make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=MONDAY_9, due_in=timedelta(days=9)
    )


def test_someone_away_gets_no_reminder_their_delegate_does(waiting, org):
    mark(org.ivo, date(2026, 5, 11), date(2026, 5, 12), delegate=org.dev, now=MONDAY_9)
    sweep(berlin(2026, 5, 11, 11, 0))
    assert [n.recipient_email for n in nags()] == [org.dev.email]
    assert nag_events(waiting) == [
        f"Reminder 1 to Installation: waiting for an answer — {org.dev.email}"
    ]
    sweep(berlin(2026, 5, 13, 9, 0))  # Ivo is back on Wednesday
    assert [n.recipient_email for n in nags() if n.number == 2] == [org.ivo.email]


def test_with_every_member_away_and_nobody_answering_the_lead_hears_then_the_contact(waiting, org):
    mark(org.ivo, date(2026, 5, 11), date(2026, 5, 12), now=MONDAY_9)
    sweep(berlin(2026, 5, 11, 11, 0))
    assert [n.recipient_email for n in nags()] == [org.ben.email]  # the lead, present
    mark(org.ben, date(2026, 5, 11), date(2026, 5, 12), now=MONDAY_9)
    sweep(berlin(2026, 5, 11, 15, 0))
    assert [n.recipient_email for n in nags() if n.number == 2] == ["duty@example.com"]
    assert nag_events(waiting)[-1].endswith("— duty@example.com")
    assert away.Presence.at(berlin(2026, 5, 11, 15, 0)).unattended()[0][0] == "Installation"
    assert away.Presence.at(berlin(2026, 5, 13, 9, 0)).unattended() == []


def test_a_delegate_covers_the_department_so_it_is_not_unattended(waiting, org):
    mark(org.ivo, date(2026, 5, 11), date(2026, 5, 12), delegate=org.dev, now=MONDAY_9)
    mark(org.ben, date(2026, 5, 11), date(2026, 5, 12), now=MONDAY_9)
    assert away.Presence.at(berlin(2026, 5, 11, 15, 0)).unattended() == []


# --- the delegate answers, and says for whom -------------------------------------------------


def test_a_delegate_may_answer_only_while_the_absence_lasts(org, make, now):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    handoff = commitment.handoffs[0]
    assert not org.dev.belongs_to(org.installation.id)
    coming = mark(
        org.ivo,
        today(now) + timedelta(days=1),
        today(now) + timedelta(days=2),
        delegate=org.dev,
        now=now,
    )
    assert fresh(org.dev).acting_for(org.installation.id) is None  # not yet
    assert fresh(org.dev).acting_for(org.installation.id, coming.starts_at).id == org.ivo.id
    assert fresh(org.dev).acting_for(org.billing.id, coming.starts_at) is None  # his own
    with pytest.raises(NotAllowed), writes():
        services.accept(fresh(handoff), fresh(org.dev), now)


def test_a_delegates_answer_says_for_whom_on_the_timeline_card_and_lookup(
    org, make, now, client, sign_in
):
    commitment = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], title="Wall mount for Ruiz"
    )
    mark(org.ivo, today(now), today(now) + timedelta(days=3), delegate=org.dev, now=now)
    sign_in(client, org.dev)
    inbox = client.get(f"/departments/{org.installation.id}/inbox")
    assert "Ivo Berg is away until" in inbox.text and "you answer for them" in inbox.text
    handoff = commitment.handoffs[0]
    answered = client.post(f"/handoffs/{handoff.id}/accept", headers=htmx_headers())
    assert answered.status_code == 200
    assert "Accepted by Dev Patel for Ivo Berg" in answered.text
    assert fresh(handoff).answered_for_id == org.ivo.id
    words = [e.words for e in db.session.scalars(select(TimelineEvent))]
    assert "Installation accepted by Dev Patel for Ivo Berg" in words
    assert handoff_cards([handoff.id])[handoff.id].answered_for.name == "Ivo Berg"
    found = client.get("/lookup", query_string={"q": "Wall mount"})
    assert "Installation: accepted by Dev Patel for Ivo Berg" in found.text
    page = client.get(f"/commitments/{commitment.reference}")
    assert "Installation accepted by Dev Patel for Ivo Berg" in page.text


def test_a_member_answering_themselves_says_nothing_of_anyone_away(org, make, now, client, sign_in):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    mark(org.ivo, today(now), today(now), delegate=org.ben, now=now)  # Ben is a lead there
    sign_in(client, org.ben)
    client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", headers=htmx_headers())
    assert fresh(commitment.handoffs[0]).answered_for_id is None
    assert "Installation accepted" in [e.words for e in db.session.scalars(select(TimelineEvent))]


# --- the pages ------------------------------------------------------------------------------


def test_marking_oneself_away_on_the_page(org, now, client, sign_in):
    sign_in(client, org.ivo)
    page = client.get("/away")
    assert "Mark yourself away" in page.text and 'name="person_id"' in page.text
    first, last = today(now) + timedelta(days=1), today(now) + timedelta(days=5)
    saved = client.post(
        "/away",
        data={
            "person_id": org.ivo.id,
            "first_day": first.isoformat(),
            "last_day": last.isoformat(),
            "delegate_id": org.ben.id,
            "note": "holiday",
        },
        follow_redirects=True,
    )
    assert saved.status_code == 200
    assert "You will be away from" in saved.text and "Ben Okafor answers meanwhile" in saved.text
    assert "will be away" in saved.text
    [absence] = absences()
    assert (absence.first_day, absence.last_day, absence.delegate_id) == (first, last, org.ben.id)
    ended = client.post(f"/away/{absence.id}/end", follow_redirects=True)
    assert "no longer marked away" in ended.text
    assert absences() == []


def test_the_form_shows_each_error_beside_its_field_and_saves_nothing(org, now, client, sign_in):
    sign_in(client, org.ivo)
    refused = client.post(
        "/away",
        data={
            "person_id": org.ivo.id,
            "first_day": today(now).isoformat(),
            "last_day": (today(now) - timedelta(days=1)).isoformat(),
            "delegate_id": "None",
        },
    )
    assert refused.status_code == 422
    assert 'id="last_day-errors"' in refused.text and "before the first" in refused.text
    empty = client.post("/away", data={"person_id": org.ivo.id, "first_day": "31.12."})
    assert empty.status_code == 422
    assert 'id="first_day-errors"' in empty.text and "Give the last day away" in empty.text
    assert absences() == []


def test_a_member_cannot_mark_a_colleague_away_or_end_their_absence(org, now, client, sign_in):
    sign_in(client, org.ivo)
    refused = client.post(
        "/away",
        data={
            "person_id": org.ben.id,
            "first_day": today(now).isoformat(),
            "last_day": today(now).isoformat(),
        },
    )
    assert refused.status_code == 422  # Ben is not among the choices
    absence = mark(org.ben, today(now), today(now), now=now)
    assert client.post(f"/away/{absence.id}/end").status_code == 403
    assert absences() != []
    assert client.post("/away/999999/end").status_code == 404


def test_the_board_names_a_department_with_nobody_here(org, now, client, sign_in):
    mark(org.ivo, today(now), today(now) + timedelta(days=1), now=now)
    sign_in(client, org.ana)
    assert "Nobody in Installation is here today" not in client.get("/").text  # Ben is here
    mark(org.ben, today(now), today(now), now=now)
    board = client.get("/").text
    assert "Nobody in Installation is here today" in board
    assert "Ivo Berg away until" in board and "Ben Okafor away until" in board


def test_a_delegate_finds_the_inbox_they_answer_for(org, now, client, sign_in, make):
    outsider = make.person("Olga Shah")
    mark(org.ivo, today(now), today(now), delegate=outsider, now=now)
    sign_in(client, outsider)
    going = client.get("/inbox")
    assert going.status_code == 302
    assert going.headers["Location"].endswith(f"/departments/{org.installation.id}/inbox")


# --- what a delegate may not do -------------------------------------------------------------


def test_a_lead_names_a_delegate_only_where_they_lead(org, make):
    sam = make.person("Sam Reyes", member_of=[org.installation, org.billing])
    with pytest.raises(InvalidInput, match="also in Billing, which you do not lead") as refused:
        mark(
            sam, date(2026, 5, 12), date(2026, 5, 12), delegate=org.ivo, actor=org.ben, now=MONDAY_9
        )
    assert refused.value.field == "delegate_id"
    mark(sam, date(2026, 5, 12), date(2026, 5, 12), actor=org.ben, now=MONDAY_9)  # no delegate
    mark(sam, date(2026, 5, 13), date(2026, 5, 13), delegate=org.ivo, actor=sam, now=MONDAY_9)


def test_a_closed_account_gives_its_delegate_nothing(org, make, now):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    mark(org.ivo, today(now), today(now), delegate=org.dev, now=now)
    assert fresh(org.dev).acting_for(org.installation.id, now).id == org.ivo.id
    with writes():
        fresh(org.ivo).active = False
    assert fresh(org.dev).acting_for(org.installation.id, now) is None
    with pytest.raises(NotAllowed), writes():
        services.accept(fresh(commitment.handoffs[0]), fresh(org.dev), now)


def test_a_delegate_answers_and_does_nothing_else_for_the_department(org, make, now):
    from handoff.commitments.answers import answers_for

    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    mark(org.ben, today(now), today(now), delegate=org.dev, now=now)  # Ben: Installation's lead
    dev = fresh(org.dev)
    assert not dev.belongs_to(org.installation.id)  # records, edits, tells: not as a delegate
    assert [a.name for a in answers_for(dev, fresh(commitment.handoffs[0]), now)] == [
        "accept",
        "counter",
        "decline",
    ]
    with pytest.raises(NotAllowed), writes():  # (nor for the promising side: Sales)
        services.cancel_commitment(fresh(commitment), dev, now, "not mine to cancel")


def test_back_early_then_away_again_the_same_day(org, now):
    absence = mark(org.ivo, today(now), today(now) + timedelta(days=2), now=now)
    with writes():
        away.end_absence(fresh(absence), org.ivo, BERLIN, now)
    later = now + timedelta(minutes=5)
    again = mark(org.ivo, today(later), today(later), now=later)
    assert again.starts_at == later


def test_a_reminder_held_for_someone_who_is_away_by_then_is_not_mailed(waiting, org):
    from handoff.mail import OutboxMessage

    with writes():
        fresh(org.ivo).digest_mode = "morning"  # his reminders wait for the next morning
    sweep(berlin(2026, 5, 11, 11, 0))  # reminder 1 for Ivo, held for Tuesday 08:00
    [held] = [n for n in nags() if n.recipient_email == org.ivo.email]
    assert held.dropped_at is None
    mark(org.ivo, date(2026, 5, 12), date(2026, 5, 12), delegate=org.dev, now=MONDAY_9)
    sweep(berlin(2026, 5, 12, 8, 0))
    held = next(n for n in nags() if n.id == held.id)
    assert held.dropped_at is not None and held.drop_reason == "they are away"
    db.session.rollback()
    assert not db.session.scalars(
        select(OutboxMessage).where(OutboxMessage.to_address == org.ivo.email)
    ).all()


def test_who_is_away_reads_its_people_in_a_fixed_number_of_queries(
    org, make, now, client, sign_in, count_queries
):
    def away_people(number: int) -> int:
        for _ in range(number):
            person = make.person(member_of=[org.billing, org.installation])
            mark(person, today(now), today(now), now=now)
        with count_queries() as queries:
            assert client.get("/away").status_code == 200
        return len(queries)

    sign_in(client, org.ana)
    assert away_people(2) == away_people(6)  # six more people away, not six more queries
