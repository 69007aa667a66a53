"""One-click links in reminders: GET shows and changes nothing, POST acts; bad links say so."""

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import time_machine

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.nagging.sweep import sweep

from conftest import fresh
from nagging_helpers import berlin, messages, nag_events, set_policy

DUE = berlin(2026, 5, 11, 11, 0)


@pytest.fixture
def reminded(org, make, app):
    set_policy()
    c = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=berlin(2026, 5, 11, 9, 0)
    )
    sweep(DUE)
    return c


def link(action: str) -> str:
    """The path of the link for `action` in the (only) reminder mail."""
    [message] = messages()
    url = re.search(rf"(http\S+/act/\S+do={action})", message.body_text).group(1)
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_opening_the_link_shows_the_handoff_and_changes_nothing(client, reminded):
    response = client.get(link("accept"))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert reminded.reference in page and "answering as Ivo Berg" in page
    for label in ("Accept", "Counter", "Decline"):
        assert f">{label}</button>" in page
    assert 'class="card act-form chosen"' in page  # the action clicked comes first
    assert fresh(reminded.handoffs[0]).state == "pending"


def test_posting_from_the_link_page_answers_as_the_recipient(client, reminded, org):
    path = link("accept").split("?")[0]
    response = client.post(path, data={"action": "accept", "note": "Booked"})
    assert response.status_code == 200
    assert "is now accepted" in response.get_data(as_text=True)
    handoff = fresh(reminded.handoffs[0])
    assert (handoff.state, handoff.answered_by_id, handoff.answer_note) == (
        "accepted",
        org.ivo.id,
        "Booked",
    )


def test_a_decline_from_the_link_needs_its_reason(client, reminded):
    path = link("decline").split("?")[0]
    response = client.post(path, data={"action": "decline", "reason": ""})
    assert response.status_code == 422
    assert "A reason is required." in response.get_data(as_text=True)
    assert fresh(reminded.handoffs[0]).state == "pending"


def test_a_counter_date_the_rules_refuse_is_said_beside_it_and_kept(client, reminded):
    path = link("counter").split("?")[0]
    body = client.post(
        path, data={"action": "counter", "due_at": "2020-01-06T10:00", "terms": "Van"}
    ).text
    errors = body[body.index('id="counter-due_at-errors"') :][:200]
    assert "in the past" in errors
    assert 'aria-describedby="counter-due_at-errors"' in body
    assert 'value="Van"' in body  # what was typed is kept
    assert fresh(reminded.handoffs[0]).state == "pending"


def test_a_link_to_a_handoff_answered_since_shows_who_answered(client, reminded, org):
    services.decline(reminded.handoffs[0], org.ben, DUE + timedelta(minutes=5), "No slot")
    db.session.commit()
    page = client.get(link("accept")).get_data(as_text=True)
    assert "answered since the mail was written" in page
    assert "declined" in page and "Ben Okafor" in page and "No slot" in page
    assert ">Accept</button>" not in page
    response = client.post(link("accept").split("?")[0], data={"action": "accept"})
    assert response.status_code == 409
    assert fresh(reminded.handoffs[0]).state == "declined"


def test_a_link_for_a_countered_handoff_no_longer_accepts(client, reminded, org):
    services.counter(
        reminded.handoffs[0], org.ben, DUE + timedelta(minutes=5), due_at=None, terms="Mornings"
    )
    db.session.commit()
    response = client.post(link("accept").split("?")[0], data={"action": "accept"})
    assert response.status_code == 409
    assert fresh(reminded.handoffs[0]).state == "countered"


def test_an_expired_link_gets_a_clear_page(client, reminded):
    path = link("accept")
    with time_machine.travel(timedelta(days=8), tick=False):
        response = client.get(path)
    assert response.status_code == 410
    assert "This link has expired" in response.get_data(as_text=True)


def test_a_tampered_link_gets_a_clear_page(client, reminded):
    path = link("accept")
    token = path.split("/act/")[1].split("?")[0]
    forged = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    response = client.get(f"/act/{forged}")
    assert response.status_code == 400
    assert "This link is not valid" in response.get_data(as_text=True)
    response = client.post(f"/act/{forged}", data={"action": "accept"})
    assert response.status_code == 400
    assert fresh(reminded.handoffs[0]).state == "pending"


def test_the_nags_show_on_the_timeline_inbox_and_board(client, reminded, org, sign_in):
    assert nag_events(reminded)[0].startswith("Reminder 1 to Installation")
    sign_in(client, org.ivo)
    inbox = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    assert "1 reminder" in inbox
    board = client.get("/").get_data(as_text=True)
    assert "⚑1" in board


def test_the_link_page_shows_times_in_the_recipients_time_zone(client, reminded, org):
    org.ivo.time_zone = "Asia/Tokyo"
    db.session.commit()
    due = fresh(reminded.handoffs[0]).due_at
    page = client.get(link("accept")).get_data(as_text=True)
    from zoneinfo import ZoneInfo

    assert due.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%a %d %b %H:%M") in page


def test_a_link_opened_where_someone_else_is_signed_in_answers_only_as_that_person(
    client, reminded, org, sign_in
):
    sign_in(client, org.ben)  # Ivo's link, opened in Ben's browser; Ben leads Installation
    page = client.get(link("accept")).get_data(as_text=True)
    assert "This link was sent to <strong>Ivo Berg</strong>" in page
    assert "recorded as <strong>Ben Okafor</strong>" in page
    response = client.post(link("accept").split("?")[0], data={"action": "accept"})
    assert response.status_code == 200
    handoff = fresh(reminded.handoffs[0])
    assert (handoff.state, handoff.answered_by_id) == ("accepted", org.ben.id)


def test_a_link_opened_by_someone_who_may_not_answer_offers_nothing_and_refuses(
    client, reminded, org, sign_in
):
    sign_in(client, org.dev)  # Billing: may not answer Installation's handoff
    page = client.get(link("accept")).get_data(as_text=True)
    assert "Dev Patel may not answer this" in page and "sign out first" in page
    assert ">Accept</button>" not in page
    response = client.post(link("accept").split("?")[0], data={"action": "accept"})
    assert response.status_code == 403
    assert fresh(reminded.handoffs[0]).state == "pending"


def test_the_links_own_person_signed_in_answers_as_themselves(client, reminded, org, sign_in):
    sign_in(client, org.ivo)
    page = client.get(link("accept")).get_data(as_text=True)
    assert "answering as Ivo Berg" in page and "This link was sent to" not in page
    client.post(link("accept").split("?")[0], data={"action": "accept"})
    assert fresh(reminded.handoffs[0]).answered_by_id == org.ivo.id


@pytest.mark.parametrize("action", ["complete", "take-counter", "nonsense"])
def test_an_answer_the_handoff_does_not_take_now_is_refused_truthfully(client, reminded, action):
    path = link("accept").split("?")[0]
    response = client.post(path, data={"action": action})
    assert response.status_code == 409
    page = response.get_data(as_text=True)
    assert "part is pending" in page and "Nothing was changed" in page
    assert "answered since" not in page  # nobody answered it
    assert fresh(reminded.handoffs[0]).state == "pending"
