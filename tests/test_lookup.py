"""The status lookup: found by any field, one true sentence, the customer owner."""

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest

from handoff.commitments import services
from handoff.commitments.sentences import status_sentence
from handoff.commitments.status import Status
from handoff.kernel.db import db

from conftest import htmx_headers, writes


@pytest.fixture
def found(org, make):
    customer = make.customer(
        "Harbor Bakery",
        email="office@harbor.example",
        phone="+49 30 1234-567",
        account_ref="A-4242",
    )
    other = make.customer("Nordic Dental", email="desk@nordic.example", account_ref="A-1111")
    mine = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], customer=customer)
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation], customer=other)
    return mine


@pytest.mark.parametrize(
    "query",
    [
        "Harbor",
        "harbor bak",
        "office@harbor",
        "HARBOR.EXAMPLE",
        "30 1234 567",
        "301234567",
        "A-4242",
    ],
)
def test_the_lookup_finds_a_customer_by_each_field(client, org, found, sign_in, query):
    sign_in(client, org.dev)
    body = client.get("/lookup", query_string={"q": query}, headers=htmx_headers()).get_data(
        as_text=True
    )
    assert found.reference in body
    assert "Nordic Dental" not in body


def test_the_lookup_finds_a_commitment_by_its_reference(client, org, found, sign_in):
    sign_in(client, org.dev)
    for query in (found.reference, found.reference.lower(), found.reference.replace("-", "")):
        body = client.get("/lookup", query_string={"q": query}).get_data(as_text=True)
        assert "Harbor Bakery" in body, query


def test_each_result_says_the_truth_and_who_owns_the_customer(client, org, found, sign_in):
    sign_in(client, org.dev)
    body = client.get("/lookup?q=harbor", headers=htmx_headers()).get_data(as_text=True)
    assert body.lstrip().startswith('<section id="results"')
    assert "Not yet confirmed by Installation — asked" in body
    assert "☎ Sales · Ana Ruiz" in body


def test_a_short_or_unmatched_query_says_so(client, org, found, sign_in):
    sign_in(client, org.dev)
    assert "Type at least 3" in client.get("/lookup?q=ha").get_data(as_text=True)
    assert "Nothing found" in client.get("/lookup?q=zzzz").get_data(as_text=True)
    wildcard = client.get("/lookup?q=%25%25%25").get_data(as_text=True)
    assert "Nothing found" in wildcard  # LIKE wildcards are searched for, not obeyed


def test_the_lookup_runs_the_same_queries_for_5_results_as_for_25(
    client, org, make, sign_in, count_queries, now
):
    customer = make.customer("Silver Clinic")
    sign_in(client, org.dev)

    def lookup_queries():
        with count_queries() as statements:
            client.get("/lookup?q=silver")
        return len(statements)

    def add(count):
        for index in range(count):
            route = [org.installation, org.billing]
            c = make.commitment(by=org.ana, owner=org.sales, route=route, customer=customer)
            if index % 2 == 0:  # declined: a new owner, and a task to tell the customer
                with writes():
                    services.decline(c.handoffs[1], org.dev, now, "Unpaid invoices")

    add(5)
    few = lookup_queries()
    add(40)
    assert lookup_queries() == few


def test_a_word_of_the_promise_finds_it_whatever_its_case(client, org, make, sign_in):
    mount = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], title="Wall mount in the lobby"
    )
    other = make.commitment(by=org.ana, owner=org.sales, route=[org.billing], title="Refund")
    sign_in(client, org.dev)
    for query in ("mount", "MOUNT", "all mou", "lobby"):
        body = client.get("/lookup", query_string={"q": query}).get_data(as_text=True)
        assert mount.reference in body and other.reference not in body, query


def test_a_customer_renamed_is_found_by_the_new_name_only(client, org, found, sign_in):
    with writes():
        found.customer.name = "Lighthouse Bakery"
        found.customer.email = "hello@lighthouse.example"
    sign_in(client, org.dev)
    get = lambda q: client.get("/lookup", query_string={"q": q}).get_data(as_text=True)  # noqa: E731
    assert found.reference in get("Lighthouse") and found.reference in get("hello@light")
    assert found.reference not in get("Harbor") and found.reference not in get("office@harbor")


def test_when_many_customers_match_the_newest_are_shown_and_it_says_so(
    client, org, make, sign_in, monkeypatch
):
    made = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], customer=make.customer(name)
        )
        for name in ("Berg Tools", "Bergmann & Co", "Ice Berg Ltd")
    ]
    monkeypatch.setattr("handoff.lookup.queries.CUSTOMER_LIMIT", 2)
    sign_in(client, org.dev)
    body = client.get("/lookup?q=berg").get_data(as_text=True)
    assert "Many customers match" in body
    assert made[2].reference in body and made[1].reference in body
    assert made[0].reference not in body  # the oldest customer: type more to find it
    body = client.get("/lookup?q=berg tools").get_data(as_text=True)
    assert made[0].reference in body and "Many customers match" not in body


# --- the sentence, for every state a commitment can be in --------------------------------

NOW = datetime(2026, 5, 12, 8, 0, tzinfo=UTC)


def when(moment):
    return moment.strftime("%a %d %b %H:%M")


def ago(moment, now):
    hours = int(abs((moment - now).total_seconds()) // 3600)
    return f"{hours} h ago" if moment < now else f"in {hours} h"


def handoff(name, state, **fields):
    values = {
        "department": SimpleNamespace(name=name),
        "state": state,
        "due_at": NOW + timedelta(days=1),
        "requested_at": NOW - timedelta(hours=5),
        "changed_at": NOW - timedelta(hours=1),
        "done_at": None,
        "answer_note": "",
        "counter_due_at": None,
        "counter_terms": "",
    }
    values.update(fields)
    return SimpleNamespace(**values)


def commitment(*handoffs, **fields):
    values = {
        "handoffs": list(handoffs),
        "owner_department": SimpleNamespace(name="Sales"),
        "promised_at": NOW + timedelta(days=2),
        "cancelled_at": None,
        "cancel_reason": "",
    }
    values.update(fields)
    return SimpleNamespace(**values)


def say(c, status):
    return status_sentence(c, status, NOW, when, ago)


def test_waiting_says_who_has_not_confirmed_and_since_when():
    c = commitment(handoff("Installation", "pending"), handoff("Billing", "pending"))
    assert say(c, Status.WAITING) == (
        "Not yet confirmed by Installation (and 1 more department) — asked 5 h ago."
    )


def test_confirmed_names_each_department_and_its_time():
    c = commitment(
        handoff("Installation", "accepted", due_at=datetime(2026, 5, 13, 10, tzinfo=UTC))
    )
    assert say(c, Status.CONFIRMED) == "Installation confirmed for Wed 13 May 10:00."


def test_a_decline_comes_first_with_its_reason():
    c = commitment(
        handoff("Installation", "accepted"),
        handoff("Billing", "declined", answer_note="needs a signed order"),
    )
    assert say(c, Status.AT_RISK) == "Billing declined: needs a signed order"


def test_a_counter_says_what_was_offered_and_that_it_is_not_settled():
    offered = datetime(2026, 5, 15, 9, tzinfo=UTC)
    c = commitment(handoff("Installation", "countered", counter_due_at=offered))
    sentence = say(c, Status.AT_RISK)
    assert sentence == (
        "Installation cannot confirm as asked and offered Fri 15 May 09:00; "
        "Sales has not settled it yet."
    )


def test_a_late_accepted_handoff_is_called_late_not_confirmed():
    c = commitment(handoff("Installation", "accepted", due_at=NOW - timedelta(hours=3)))
    assert say(c, Status.OVERDUE) == "Installation confirmed for Tue 12 May 05:00 but is 3 h late."


def test_overdue_with_every_part_accepted_says_the_customer_date_has_passed():
    c = commitment(handoff("Installation", "accepted"), promised_at=NOW - timedelta(hours=1))
    assert "which has passed" in say(c, Status.OVERDUE)


def test_fulfilled_says_when_the_last_part_was_done():
    c = commitment(handoff("Installation", "done", done_at=datetime(2026, 5, 11, 16, tzinfo=UTC)))
    assert say(c, Status.FULFILLED) == "Fulfilled: Installation finished on Mon 11 May 16:00."


def test_cancelled_says_when_and_why():
    c = commitment(
        handoff("Installation", "cancelled"),
        cancelled_at=datetime(2026, 5, 10, 9, tzinfo=UTC),
        cancel_reason="Customer withdrew",
    )
    assert say(c, Status.CANCELLED) == "Cancelled on Sun 10 May 09:00: Customer withdrew"


def test_removed_steps_are_not_mentioned():
    c = commitment(handoff("Installation", "accepted"), handoff("Billing", "cancelled"))
    assert "Billing" not in say(c, Status.CONFIRMED)


def test_the_sentence_for_a_real_commitment_follows_its_answers(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(c.handoffs[0], org.ivo, now)
    db.session.commit()
    sentence = status_sentence(c, Status.CONFIRMED, now, when, ago)
    assert sentence.startswith("Installation confirmed for ")


# --- what to say to the customer, for every status ----------------------------------------


def to_say(c, status, task=None, told=None):
    from handoff.commitments.sentences import customer_sentence

    c.customer_owner_department = SimpleNamespace(name="Sales")
    c.title = "Router installed"
    return customer_sentence(c, status, NOW, when, task, told)


def tell_task(reason: str, due_at=NOW + timedelta(hours=2)):
    """An open task to tell the customer, due two hours from NOW (Tue 12 May 10:00)."""
    return SimpleNamespace(reason=reason, due_at=due_at)


def test_to_say_confirmed_names_the_confirmed_time():
    c = commitment(
        handoff("Installation", "accepted", due_at=datetime(2026, 5, 13, 10, tzinfo=UTC))
    )
    assert to_say(c, Status.CONFIRMED) == "It's confirmed: router installed, by Wed 13 May 10:00."


def test_to_say_waiting_claims_no_date():
    c = commitment(handoff("Installation", "accepted"), handoff("Billing", "pending"))
    sentence = to_say(c, Status.WAITING)
    assert sentence == (
        "We can't confirm Thu 14 May 08:00 yet; Sales will tell you as soon as it is confirmed."
    )
    assert "confirmed:" not in sentence


def test_to_say_at_risk_when_due_soon_is_still_unconfirmed():
    c = commitment(handoff("Installation", "pending", due_at=NOW + timedelta(hours=2)))
    assert to_say(c, Status.AT_RISK).startswith("We can't confirm")


def test_to_say_countered_offers_the_earliest_date_without_committing():
    offered = datetime(2026, 5, 15, 9, tzinfo=UTC)
    c = commitment(handoff("Installation", "countered", counter_due_at=offered))
    assert to_say(c, Status.AT_RISK) == (
        "We can't confirm Thu 14 May 08:00 yet: the earliest we can offer is Fri 15 May 09:00. "
        "We'll confirm before anything changes."
    )


def test_to_say_a_counter_still_in_time_for_the_customer_does_not_say_we_cannot_confirm():
    offered = datetime(2026, 5, 13, 9, tzinfo=UTC)  # before the customer's Thu 14 May 08:00
    c = commitment(handoff("Installation", "countered", counter_due_at=offered))
    assert to_say(c, Status.AT_RISK) == (
        "We're still working to Thu 14 May 08:00: one part is being rearranged. "
        "We'll confirm it soon."
    )


def test_to_say_declined_apologises_and_names_who_will_call():
    c = commitment(handoff("Billing", "declined", answer_note="needs a signed order"))
    assert to_say(c, Status.AT_RISK) == (
        "I'm sorry, we can't do this as promised for Thu 14 May 08:00. "
        "Sales will contact you about what we can do instead."
    )


def test_to_say_overdue_admits_it_is_late():
    c = commitment(handoff("Installation", "accepted", due_at=NOW - timedelta(hours=3)))
    assert to_say(c, Status.OVERDUE).startswith("It's running late: it was promised for")


def test_to_say_fulfilled_and_cancelled():
    done = datetime(2026, 5, 11, 16, tzinfo=UTC)
    assert to_say(commitment(handoff("Installation", "done", done_at=done)), Status.FULFILLED) == (
        "It's done: everything we promised was completed on Mon 11 May 16:00."
    )
    cancelled = commitment(
        handoff("Installation", "cancelled"), cancelled_at=datetime(2026, 5, 10, 9, tzinfo=UTC)
    )
    assert to_say(cancelled, Status.CANCELLED) == "This was cancelled on Sun 10 May 09:00."


def test_the_lookup_shows_what_to_say(client, org, found, sign_in):
    sign_in(client, org.dev)
    body = client.get("/lookup?q=harbor", headers=htmx_headers()).get_data(as_text=True)
    assert "Say to the customer:" in body and "We can&#39;t confirm" in body


# --- with a task to tell the customer open: the deadline is when the customer hears -------


def test_to_say_declined_with_a_task_names_when_the_customer_hears():
    c = commitment(handoff("Billing", "declined", answer_note="needs a signed order"))
    assert to_say(c, Status.AT_RISK, tell_task("declined")) == (
        "I'm sorry, we can't do this as promised for Thu 14 May 08:00. "
        "Sales will contact you by Tue 12 May 10:00 about what we can do instead."
    )


def test_to_say_declined_after_the_customer_was_told_promises_no_second_call():
    from handoff.ownership.services import Told

    c = commitment(handoff("Billing", "declined", answer_note="needs a signed order"))
    told = Told(NOW - timedelta(hours=3), "Ivo Berg", "Billing", "Asked for the order")
    assert to_say(c, Status.AT_RISK, None, told) == (
        "I'm sorry, we can't do this as promised for Thu 14 May 08:00. Billing spoke to you "
        "about it on Tue 12 May 05:00, and Sales is your contact for what happens next."
    )
    # a new task to tell them (the promise broke again) is what they hear next
    assert "Sales will contact you by" in to_say(c, Status.AT_RISK, tell_task("declined"), told)


def test_to_say_late_with_a_task_names_when_the_customer_hears():
    c = commitment(handoff("Installation", "accepted", due_at=NOW - timedelta(hours=3)))
    assert to_say(c, Status.OVERDUE, tell_task("late")).endswith(
        "Sales will update you by Tue 12 May 10:00."
    )


def test_to_say_a_moved_date_says_it_changed_and_the_new_confirmed_time():
    moved = datetime(2026, 5, 16, 9, tzinfo=UTC)
    c = commitment(handoff("Installation", "accepted", due_at=moved))
    assert to_say(c, Status.CONFIRMED, tell_task("date_moved")) == (
        "Your date has changed: router installed is now confirmed for Sat 16 May 09:00."
    )


def test_to_say_a_countered_step_with_a_task_names_who_confirms_by_when():
    offered = datetime(2026, 5, 15, 9, tzinfo=UTC)
    c = commitment(handoff("Installation", "countered", counter_due_at=offered))
    assert to_say(c, Status.AT_RISK, tell_task("late")) == (
        "We can't confirm Thu 14 May 08:00 yet: the earliest we can offer is Fri 15 May 09:00. "
        "Sales will confirm by Tue 12 May 10:00 before anything changes."
    )


def test_to_say_never_names_a_deadline_that_has_passed():
    c = commitment(handoff("Billing", "declined", answer_note="no"))
    overdue = tell_task("declined", due_at=NOW - timedelta(minutes=1))
    assert " by " not in to_say(c, Status.AT_RISK, overdue)


def test_the_results_page_newest_first_through_every_match_once_and_back(
    client, org, make, sign_in, count_queries
):
    """A word many promises share: pages of 10, newest first, each match once, the query and
    the page size kept in every address; back again page by page."""
    made = [
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation], title=f"Mount {n}")
        for n in range(23)
    ]
    sign_in(client, org.dev)
    references = re.compile(r'class="ref" href="[^"]*">(C-\d+)<')
    seen, pages, address = [], [], "/lookup?q=mount&per=10"
    while address:
        body = client.get(address, headers=htmx_headers()).get_data(as_text=True)
        pages.append(address)
        seen += references.findall(body)
        older = re.search(r'href="([^"]+)"[^>]*rel="next"', body)
        address = older.group(1).replace("&amp;", "&") if older else None
        if address:
            assert "q=mount" in address and "per=10" in address
    newest_first = [c.reference for c in reversed(made)]
    assert sorted(seen) == sorted(newest_first) and len(seen) == 23
    assert len(pages) == 3
    # the last page, and back from it: the same pages in reverse
    body = client.get(pages[-1], headers=htmx_headers()).get_data(as_text=True)
    back = []
    while True:
        newer = re.search(r'href="([^"]+)"[^>]*rel="prev"', body)
        if not newer:
            break
        body = client.get(newer.group(1).replace("&amp;", "&"), headers=htmx_headers()).get_data(
            as_text=True
        )
        back.append(set(references.findall(body)))
    assert back == [set(newest_first[10:20]), set(newest_first[:10])]
    # a page of 10 and a page of 50 ask the same number of questions
    counted = []
    for per in (10, 50):
        with count_queries() as statements:
            client.get(f"/lookup?q=mount&per={per}", headers=htmx_headers())
        counted.append(len(statements))
    assert counted[0] == counted[1]


def test_a_cursor_that_is_not_one_starts_the_results_again(client, org, found, sign_in):
    sign_in(client, org.dev)
    for cursor in ("x", "WzFd" * 200, "WyJ0IiwiMjAyNiJd", ""):
        response = client.get("/lookup", query_string={"q": "harbor", "after": cursor})
        assert response.status_code == 200 and found.reference in response.get_data(as_text=True)
