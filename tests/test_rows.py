"""The lists' rows (commitments.rows) stand in for the models in the templates, the
sentences and the answers: each says exactly what its model says, in every state."""

from datetime import timedelta

import pytest
from flask import render_template_string

from handoff.commitments import services
from handoff.commitments.answers import answers_by_handoff
from handoff.commitments.models import Commitment
from handoff.commitments.rows import commitment_rows, handoff_cards
from handoff.commitments.sentences import customer_sentence, status_sentence
from handoff.kernel.dates import format_relative
from handoff.kernel.db import db
from handoff.web import format_when

from conftest import writes

CARD = (
    '{% from "commitments/_handoff_card.html" import card %}'
    '{{ card(h, h.commitment, can, "inbox", {}, None, "", now) }}'
)
ROW = (
    '{% from "macros/chips.html" import route_chain, owner, status_badge %}'
    "{{ route_chain(c) }}{{ owner(c) }}{{ status_badge(c.status(now, risk)) }}"
    "{{ c.reference }} {{ c.customer.name }} {{ c.title }} {{ c.customer_id }}"
)
RISK = timedelta(hours=4)


@pytest.fixture
def route(org, make, now):
    """Commitments whose handoffs stand in every state a list shows."""
    made = [
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
        for _ in range(7)
    ]
    with writes():
        services.accept(made[1].handoffs[0], org.ivo, now, "Booked")
        services.counter(made[2].handoffs[0], org.ivo, now, due_at=None, terms="Only mornings")
        services.decline(made[3].handoffs[1], org.dev, now, "Unpaid invoices")
        services.accept(made[4].handoffs[0], org.ivo, now)
        services.complete(made[4].handoffs[0], org.ivo, now + timedelta(hours=1))
        services.accept(made[5].handoffs[0], org.ivo, now)
        services.accept(made[5].handoffs[1], org.dev, now)
        services.cancel_commitment(made[6], org.ana, now, "The customer moved away")
    db.session.commit()
    return made


@pytest.mark.parametrize("reader", ["ivo", "ana", "admin"])
def test_a_card_shows_a_handoff_as_its_model_does(app, org, route, now, reader):
    person = getattr(org, reader)
    handoffs = [h for c in route for h in c.handoffs]
    cards = handoff_cards([h.id for h in handoffs])
    with app.test_request_context("/"):
        for handoff in handoffs:
            row = cards[handoff.id]
            by_model = answers_by_handoff(person, [handoff])[handoff.id]
            assert answers_by_handoff(person, [row])[row.id] == by_model, handoff.state
            html = [
                render_template_string(CARD, h=h, can=by_model, now=now) for h in (handoff, row)
            ]
            assert html[0] == html[1], handoff.state


def test_a_row_reads_and_sounds_as_its_commitment(app, route, now):
    rows = {row.id: row for row in commitment_rows([c.id for c in route])}
    with app.test_request_context("/"):
        for commitment in route:
            row = rows[commitment.id]
            assert row.status(now, RISK) == commitment.status(now, RISK)
            for later in (now, now + timedelta(days=40)):  # late work too
                status = commitment.status(later, RISK)
                assert status_sentence(
                    row, status, later, format_when, format_relative
                ) == status_sentence(commitment, status, later, format_when, format_relative)
                assert customer_sentence(row, status, later, format_when) == customer_sentence(
                    commitment, status, later, format_when
                )
            html = [render_template_string(ROW, c=c, now=now, risk=RISK) for c in (commitment, row)]
            assert html[0] == html[1]


def test_rows_come_in_the_order_asked_and_leave_out_what_is_not_there(app, route):
    ids = [route[3].id, route[0].id, 10**9]
    assert [row.id for row in commitment_rows(ids)] == ids[:2]
    assert commitment_rows([]) == []
    assert handoff_cards([10**9]) == {}
    assert isinstance(route[0], Commitment)


def test_links_of_rows_are_the_addresses_url_for_makes_whatever_the_values(app):
    """row_url fills a pattern built once: each value goes into its own place, quoted as
    url_for quotes it, even a value that holds a placeholder's text."""
    from urllib.parse import parse_qs, urlsplit

    from flask import url_for

    from handoff.web import row_url

    with app.test_request_context("/"):
        for values in (
            {"department_id": 7, "section": "waiting", "after": "__mark2__x"},
            {"department_id": 8, "section": "accepted", "after": "a b/ü?&=%"},
            {"department_id": 9, "section": "__mark0__", "after": "__mark0____mark1__"},
        ):
            ours, flasks = (urlsplit(u("inbox.section", **values)) for u in (row_url, url_for))
            assert ours.path == flasks.path  # (the query is written with other, equal escapes)
            assert parse_qs(ours.query) == parse_qs(flasks.query) == {"after": [values["after"]]}
        assert row_url("commitments.show", reference="C-1001") == url_for(
            "commitments.show", reference="C-1001"
        )
