"""The board at any size: each commitment's status facts are kept on its row by every verb,
the database answers the same status as the Python rule, and the board pages through every
open commitment once, in each order, forwards and back, with a fixed number of queries."""

import random
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.board.queries import SEVERITY, BoardFilters, board_page, status_condition
from handoff.commitments import services
from handoff.commitments.lifecycle import State
from handoff.commitments.models import Commitment
from handoff.commitments.status import HandoffFacts, board_facts
from handoff.kernel.db import db
from handoff.kernel.errors import InvalidInput

from conftest import htmx_headers, writes

AT_RISK = timedelta(hours=4)


def facts_of(commitment: Commitment):
    return board_facts(
        cancelled=commitment.cancelled_at is not None,
        promised_at=commitment.promised_at,
        handoffs=[HandoffFacts(State(h.state), h.due_at) for h in commitment.handoffs],
    )


def stored(commitment: Commitment):
    db.session.refresh(commitment)
    return (
        commitment.on_board,
        commitment.overdue_from,
        commitment.answer_due_at,
        commitment.troubled,
    )


def expected(commitment: Commitment):
    facts = facts_of(commitment)
    return (facts.on_board, facts.overdue_from, facts.answer_due_at, facts.troubled)


def busy_board(org, make, now, count: int, seed: int = 3) -> list[Commitment]:
    """`count` commitments made and answered at random moments, through the verbs."""
    rng = random.Random(seed)
    answerer = {org.installation.id: org.ivo, org.billing.id: org.dev}
    made = []
    for _ in range(count):
        at = now - timedelta(hours=rng.randrange(0, 200))
        route = rng.sample([org.installation, org.billing], k=rng.choice([1, 2]))
        commitment = make.commitment(
            by=org.ana,
            owner=org.sales,
            route=route,
            at=at,
            due_in=timedelta(hours=rng.randrange(2, 400)),
        )
        with writes():
            for handoff in commitment.handoffs:
                who = answerer[handoff.department_id]
                move = rng.choice(["wait", "accept", "done", "counter", "decline", "take"])
                try:
                    if move in ("accept", "done"):
                        services.accept(handoff, who, at)
                    if move == "done":
                        services.complete(handoff, who, at)
                    if move in ("counter", "take"):
                        later = max(at, now) + timedelta(hours=rng.randrange(1, 300))
                        services.counter(handoff, who, at, due_at=later, terms="")
                    if move == "take":
                        services.take_counter(handoff, org.ana, at)
                    if move == "decline":
                        services.decline(handoff, who, at, "No one free")
                except InvalidInput:
                    pass  # (a counter date already past: this step stays as it was)
            if rng.random() < 0.05:
                services.cancel_commitment(commitment, org.ana, at, "Changed their mind")
        made.append(commitment)
    return made


def test_every_verb_keeps_the_board_facts_true(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    assert stored(c) == expected(c) and c.on_board
    steps = [
        lambda: services.accept(c.handoffs[0], org.ivo, now),
        lambda: services.counter(
            c.handoffs[1], org.dev, now, due_at=now + timedelta(days=9), terms="Later"
        ),
        lambda: services.take_counter(c.handoffs[1], org.ana, now),
        lambda: services.complete(c.handoffs[0], org.ivo, now),
        lambda: services.edit_commitment(
            c, org.ana, now, title=c.title, details="", promised_at=now + timedelta(hours=1)
        ),
        lambda: services.complete(c.handoffs[1], org.dev, now),
    ]
    for step in steps:
        with writes():
            step()
        assert stored(c) == expected(c)
    assert not c.on_board  # fulfilled: off the board

    d = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    with writes():
        services.decline(d.handoffs[0], org.ivo, now, "No technician")
    assert stored(d) == expected(d) and d.troubled and d.on_board
    with writes():
        services.cancel_commitment(d, org.ana, now, "Customer cancelled")
    assert stored(d) == (False, None, None, False)


def test_the_database_reads_the_same_status_as_the_python_rule(org, make, now):
    made = busy_board(org, make, now, 60)
    open_ids = {c.id for c in made if c.status(now, AT_RISK) in SEVERITY}
    assert len({c.status(now, AT_RISK) for c in made}) >= 5  # every status is there
    for moment in [now + timedelta(hours=h) for h in (-300, -50, -3, 0, 2, 5, 30, 200, 500)]:
        for status in SEVERITY:
            query = select(Commitment.id).where(
                Commitment.on_board.is_(True), status_condition(status, moment, AT_RISK)
            )
            in_sql = set(db.session.scalars(query))
            in_python = {c.id for c in made if c.status(moment, AT_RISK) == status}
            assert in_sql == in_python, (moment, status)
        on_board = set(db.session.scalars(select(Commitment.id).where(Commitment.on_board)))
        assert on_board == open_ids


def walk(filters: BoardFilters, now, backwards_from_end: bool = False) -> list[list[int]]:
    """Every page of the board from the first (or, going back, from the last)."""

    def page(**position):
        return board_page(
            filters,
            department_ids=frozenset(),
            now=now,
            at_risk_within=AT_RISK,
            day_bounds=(now, now + timedelta(days=1)),
            **position,
        ).page

    pages, current = [], page()
    while True:
        pages.append([c.id for c in current.rows])
        if not current.after:
            break
        current = page(after=current.after)
    if not backwards_from_end:
        return pages
    back = [pages[-1]]
    while current.before:
        current = page(before=current.before)
        back.insert(0, [c.id for c in current.rows])
    return back


@pytest.mark.parametrize("sort", ["urgency", "due", "customer", "department", "newest"])
def test_the_board_pages_through_every_open_commitment_once_in_order_and_back(org, make, now, sort):
    made = busy_board(org, make, now, 45)
    on_board = [c for c in made if c.status(now, AT_RISK) in SEVERITY]
    key = {
        "urgency": lambda c: (SEVERITY.index(c.status(now, AT_RISK)), c.promised_at, c.id),
        "due": lambda c: (c.promised_at, c.id),
        "customer": lambda c: (c.customer.name, c.id),
        "department": lambda c: (c.owner_department.name, c.promised_at, c.id),
        "newest": lambda c: -c.id,
    }[sort]
    wanted = [c.id for c in sorted(on_board, key=key)]
    filters = BoardFilters(sort=sort, per=10)
    pages = walk(filters, now)
    assert [i for page in pages for i in page] == wanted
    assert all(len(page) == 10 for page in pages[:-1])
    assert walk(filters, now, backwards_from_end=True) == pages


def test_a_status_filter_pages_only_through_its_statuses(org, make, now):
    made = busy_board(org, make, now, 40)
    serious = [c for c in made if c.status(now, AT_RISK) in SEVERITY[:2]]
    pages = walk(BoardFilters(show="at_risk", per=10), now)
    assert sorted(i for page in pages for i in page) == sorted(c.id for c in serious)


def test_a_page_of_10_and_a_page_of_50_run_the_same_number_of_queries(
    client, org, make, sign_in, count_queries, now
):
    busy_board(org, make, now, 70)
    sign_in(client, org.dev)

    def queries(url: str) -> int:
        with count_queries() as statements:
            assert client.get(url, headers=htmx_headers()).status_code == 200
        return len(statements)

    for sort in ("urgency", "due", "customer", "department", "newest"):
        assert queries(f"/?sort={sort}&per=10") == queries(f"/?sort={sort}&per=50"), sort


def test_the_pages_are_links_in_the_url_and_a_bad_cursor_is_the_first_page(
    client, org, make, sign_in, now
):
    busy_board(org, make, now, 40)
    sign_in(client, org.dev)
    first = client.get("/?per=10").get_data(as_text=True)
    following = re.search(r'href="(/\?per=10&amp;after=[^"]+)"[^>]*rel="next"', first)
    assert following, "a next page link"
    second = client.get(following.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert 'rel="prev"' in second and "First page" in second
    refs = lambda body: re.findall(r'class="ref" href="/commitments/(C-\d+)"', body)  # noqa: E731
    assert refs(first) and refs(second) and not set(refs(first)) & set(refs(second))
    for broken in ("x", "eyJ", "W1tdXQ", "W1sidCIsIngiXSwxXQ", "A" * 700):
        response = client.get(f"/?per=10&after={broken}")
        assert response.status_code == 200
        assert refs(response.get_data(as_text=True)) == refs(first)


def test_the_count_says_how_many_and_a_long_list_says_more_than(org, make, now, monkeypatch):
    made = busy_board(org, make, now, 30)
    on_board = sum(c.status(now, AT_RISK) in SEVERITY for c in made)
    filters = BoardFilters()
    args = dict(
        department_ids=frozenset(),
        now=now,
        at_risk_within=AT_RISK,
        day_bounds=(now, now + timedelta(days=1)),
    )
    result = board_page(filters, **args)
    assert (result.total, result.capped) == (on_board, False)
    monkeypatch.setattr("handoff.board.queries.COUNT_CAP", 5)
    result = board_page(filters, **args)
    assert (result.total, result.capped) == (5, True)
