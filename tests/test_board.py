"""The board: one row per open commitment, filters in the URL, the list alone for htmx."""

import re
from datetime import timedelta

import pytest

from handoff.commitments import services
from handoff.kernel.db import db

from conftest import htmx_headers, writes


def test_the_board_shows_each_open_commitment_with_its_route_and_owner(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    sign_in(client, org.dev)
    response = client.get("/")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" in page and 'id="filters"' in page
    assert c.reference in page and c.customer.name in page
    # each chip says its state in words as well as colour
    assert 'title="Installation: waiting"' in page and 'title="Billing: waiting"' in page
    assert "☎ Sales · Ana Ruiz" in page
    assert "· promised by Sales</small>" in page  # (what the order "Promised by" sorts by)
    # a customer's name narrows the board to them, in the order and page size chosen
    assert f'href="/?customer={c.customer_id}" class="customer"' in page
    ordered = client.get("/?sort=due&per=10&show=waiting").get_data(as_text=True)
    assert f'href="/?customer={c.customer_id}&amp;per=10&amp;sort=due" class="customer"' in ordered
    assert "Waiting for acknowledgement" in page


def test_an_htmx_filter_request_gets_only_the_list(client, org, make, sign_in):
    make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.dev)
    response = client.get("/?show=waiting", headers=htmx_headers())
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="board"')
    assert "<html" not in body and 'id="filters"' not in body
    assert "HX-Request" in response.headers["Vary"]
    # the list refreshes itself with the same filters it was asked for
    assert 'hx-get="/?show=waiting&amp;seen=' in body
    assert "every 10s" in body


@pytest.mark.parametrize(
    "headers",
    [
        {"HX-Request": "true", "HX-Boosted": "true"},
        {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    ],
)
def test_boosted_and_history_restore_requests_get_the_whole_page(client, org, sign_in, headers):
    sign_in(client, org.dev)
    body = client.get("/", headers=headers).get_data(as_text=True)
    assert "<html" in body


def test_filters_narrow_the_board(client, org, make, sign_in, now):
    waiting = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    confirmed = make.commitment(by=org.ana, owner=org.sales, route=[org.billing])
    services.accept(confirmed.handoffs[0], org.dev, now)
    declined = make.commitment(by=org.ana, owner=org.sales, route=[org.billing])
    services.decline(declined.handoffs[0], org.dev, now, "No signed order")
    today = make.commitment(
        by=org.ana, owner=org.sales, route=[org.billing], due_in=timedelta(minutes=30)
    )
    db.session.commit()
    sign_in(client, org.ivo)

    def refs(url):
        body = client.get(url, headers=htmx_headers()).get_data(as_text=True)
        return {c.reference for c in (waiting, confirmed, declined, today) if c.reference in body}

    assert refs("/") == {
        waiting.reference,
        confirmed.reference,
        declined.reference,
        today.reference,
    }
    assert refs("/?show=waiting") == {waiting.reference, today.reference}
    assert refs("/?show=at_risk") == {declined.reference, today.reference}
    assert refs("/?mine=1") == {waiting.reference}  # Ivo is in Installation only
    assert refs(f"/?department={org.billing.id}") == {
        confirmed.reference,
        declined.reference,
        today.reference,
    }
    assert refs(f"/?customer={waiting.customer_id}") == {waiting.reference}
    assert today.reference in refs("/?show=due_today")
    assert refs("/?show=nonsense") == refs("/")


def test_fulfilled_and_cancelled_commitments_leave_the_board(client, org, make, sign_in, now):
    done = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(done.handoffs[0], org.ivo, now)
    services.complete(done.handoffs[0], org.ivo, now)
    gone = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.cancel_commitment(gone, org.ana, now, "Customer cancelled")
    db.session.commit()
    sign_in(client, org.ivo)
    body = client.get("/").get_data(as_text=True)
    assert done.reference not in body and gone.reference not in body
    assert "0 open commitments" in body


def test_the_board_runs_the_same_queries_for_5_rows_as_for_200(
    client, org, make, sign_in, count_queries, now
):
    sign_in(client, org.dev)

    def board_queries():
        with count_queries() as statements:
            assert client.get("/").status_code == 200
        return len(statements)

    for _ in range(5):
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    few = board_queries()
    for index in range(195):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
        if index % 3 == 0:
            services.accept(c.handoffs[0], org.ivo, now)
    db.session.commit()
    assert board_queries() == few


def test_a_refresh_of_a_board_that_has_not_changed_gets_nothing_and_a_change_gets_the_list(
    client, org, make, sign_in, now
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    body = client.get("/", headers=htmx_headers()).get_data(as_text=True)
    seen = re.search(r'<section id="board"[^>]*hx-get="/\?seen=([^"&]+)"', body).group(1)
    unchanged = client.get(f"/?seen={seen}", headers=htmx_headers())
    assert unchanged.status_code == 204 and unchanged.get_data() == b""
    assert "HX-Request" in unchanged.headers["Vary"]
    # a full page (no htmx) is always whole, whatever it says it saw
    assert client.get(f"/?seen={seen}").status_code == 200
    with writes():
        services.accept(c.handoffs[0], org.ivo, now)
    changed = client.get(f"/?seen={seen}", headers=htmx_headers())
    assert changed.status_code == 200 and c.reference in changed.get_data(as_text=True)
    # the pages of the list are not refreshes: they never carry what the list saw
    for _ in range(30):
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    body = client.get("/?per=10", headers=htmx_headers()).get_data(as_text=True)
    pager = body.split('<nav class="pager"')[1]
    assert "after=" in pager and "seen=" not in pager


def test_an_overdue_commitment_says_which_step_is_late(client, org, make, sign_in, now):
    """An overdue row beside "in 2 d" (the customer's date) names the step whose time
    passed, or says that the customer's date itself passed."""
    step_late = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.installation],
        at=now - timedelta(days=3),
        due_in=timedelta(days=5.5),  # Installation's part was due 6 h ago; the customer's in 2 d
    )
    services.accept(step_late.handoffs[0], org.ivo, now - timedelta(days=2))
    date_passed = make.commitment(
        by=org.ana,
        owner=org.sales,
        route=[org.billing],
        at=now - timedelta(days=4),
        due_in=timedelta(days=2),  # the customer's date was 2 d ago; Billing declined
    )
    services.decline(date_passed.handoffs[0], org.dev, now - timedelta(days=3), "No")
    db.session.commit()
    sign_in(client, org.ana)
    body = client.get("/").get_data(as_text=True)
    row = body.split(f">{step_late.reference}</a>")[1].split("</tr>")[0]
    assert 'class="status status-overdue"' in row
    assert "Installation was due 6 h ago" in row and "in 2 d" in row
    row = body.split(f">{date_passed.reference}</a>")[1].split("</tr>")[0]
    assert "the customer&#39;s date passed 2 d ago" in row  # (escaped as every value is)
