"""A department's inbox: what waits for its answer, most urgent first."""

import re
from datetime import datetime, timedelta

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor

from conftest import htmx_headers, writes


def test_the_inbox_lists_waiting_handoffs_most_urgent_first(client, org, make, sign_in):
    later = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], due_in=timedelta(days=9)
    )
    sooner = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], due_in=timedelta(days=2)
    )
    other = make.commitment(by=org.ana, owner=org.sales, route=[org.billing])
    sign_in(client, org.ivo)
    body = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    waiting = body.split('id="inbox-waiting"')[1].split('id="inbox-settle"')[0]
    assert waiting.index(sooner.reference) < waiting.index(later.reference)
    assert other.reference not in body


def test_the_inbox_sorts_work_into_its_sections(client, org, make, sign_in, now):
    accepted = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(accepted.handoffs[0], org.ivo, now)
    countered = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.counter(countered.handoffs[0], org.ivo, now, due_at=None, terms="Only mornings")
    db.session.commit()
    sign_in(client, org.ivo)
    body = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    assert accepted.reference in body.split('id="inbox-accepted"')[1]
    assert (
        countered.reference in body.split('id="inbox-countered"')[1].split('id="inbox-accepted"')[0]
    )
    # the owner side finds the counter to settle in its own inbox
    sign_in(client, org.ana)
    body = client.get(f"/departments/{org.sales.id}/inbox").get_data(as_text=True)
    settle = body.split('id="inbox-settle"')[1].split('id="inbox-countered"')[0]
    assert countered.reference in settle and "Take the counter" in settle


def test_a_person_in_several_departments_can_switch_inboxes(client, org, make, sign_in):
    from handoff.departments.models import Membership

    db.session.add(Membership(person=org.ivo, department=org.billing, role="member"))
    db.session.commit()
    sign_in(client, org.ivo)
    assert client.get("/inbox").headers["Location"] == f"/departments/{org.billing.id}/inbox"
    body = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    assert f'href="/departments/{org.billing.id}/inbox"' in body
    assert 'aria-current="page">Installation<' in body


def test_an_admin_who_sees_every_department_chooses_an_inbox_from_a_list(
    client, org, make, sign_in
):
    """Tabs for a few inboxes; past eight (an admin sees every department), a choice."""
    sign_in(client, org.admin)
    body = client.get(f"/departments/{org.sales.id}/inbox").get_data(as_text=True)
    assert 'aria-label="Your inboxes"' in body and 'name="department"' not in body
    more = [make.department(f"Team {n}") for n in range(6)]
    body = client.get(f"/departments/{org.sales.id}/inbox").get_data(as_text=True)
    assert 'aria-label="Your inboxes"' not in body
    assert f'<option value="{org.sales.id}" selected>Sales</option>' in body
    assert f'<option value="{more[0].id}">Team 0</option>' in body
    chosen = client.get(f"/inbox?department={more[0].id}")
    assert chosen.status_code == 302
    assert chosen.headers["Location"] == f"/departments/{more[0].id}/inbox"
    assert client.get("/inbox?department=9999", follow_redirects=True).status_code == 404
    assert "Open the inbox of" in client.get("/inbox?department=x").get_data(as_text=True)


def test_someone_in_no_department_is_told_so_and_an_admin_chooses_any_inbox(
    client, org, make, sign_in
):
    sign_in(client, make.person("Nora Newcomer"))
    body = client.get("/inbox").get_data(as_text=True)
    assert "You belong to no department" in body and 'name="department"' not in body
    sign_in(client, org.admin)
    body = client.get("/inbox").get_data(as_text=True)
    assert "You belong to no department" not in body
    for department in (org.sales, org.installation, org.billing):
        assert f'<option value="{department.id}">{department.name}</option>' in body


def test_an_unknown_department_inbox_is_404(client, org, sign_in):
    sign_in(client, org.ivo)
    response = client.get("/departments/9999/inbox")
    assert response.status_code == 404
    assert "There is nothing at /departments/9999/inbox" in response.get_data(as_text=True)


def test_the_inbox_as_a_fragment_is_only_its_lists(client, org, sign_in):
    sign_in(client, org.ivo)
    response = client.get(f"/departments/{org.installation.id}/inbox", headers=htmx_headers())
    assert response.get_data(as_text=True).lstrip().startswith('<div id="inbox-lists"')
    assert "HX-Request" in response.headers["Vary"]


def test_the_inbox_runs_the_same_queries_for_5_rows_as_for_200(
    client, org, make, sign_in, count_queries, now
):
    sign_in(client, org.ivo)

    def inbox_queries():
        with count_queries() as statements:
            client.get(f"/departments/{org.installation.id}/inbox")
        return len(statements)

    def add(count):
        for index in range(count):
            c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
            if index % 3 == 0:  # declined: Installation must tell the customer
                with writes():
                    services.decline(c.handoffs[0], org.ivo, now, "No technician free")

    add(5)
    few = inbox_queries()
    add(195)
    assert inbox_queries() == few


def test_a_handoff_past_its_due_time_is_marked_late(client, org, make, sign_in, now):
    from handoff.commitments.models import Handoff

    late = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    on_time = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    db.session.get(Handoff, late.handoffs[0].id).due_at = now - timedelta(hours=2)
    db.session.commit()
    sign_in(client, org.ivo)
    body = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    rows = {
        c.reference: body.split(f'id="handoff-{c.handoffs[0].id}"')[1].split("</article>")[0]
        for c in (late, on_time)
    }
    assert 'class="late"' in rows[late.reference]
    assert 'class="late"' not in rows[on_time.reference]


def refs_in(body: str, section: str) -> list[str]:
    part = body.split(f'id="inbox-{section}"')[1].split("</section>")[0]
    return re.findall(r'class="ref" href="/commitments/(C-\d+)"', part)


def test_each_section_pages_through_all_its_handoffs_once_and_back(client, org, make, sign_in):
    made = [
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], due_in=timedelta(hours=20 + i)
        )
        for i in range(23)
    ]
    sign_in(client, org.ivo)
    url = f"/departments/{org.installation.id}/inbox?per=10"
    pages, body = [], client.get(url).get_data(as_text=True)
    while True:
        pages.append(refs_in(body, "waiting"))
        found = re.search(r'href="([^"]+)"[^>]*rel="next"', body.split('id="inbox-waiting"')[1])
        if not found:
            break
        body = client.get(found.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert [len(p) for p in pages] == [10, 10, 3]
    assert [r for p in pages for r in p] == [c.reference for c in made]  # soonest due first
    assert 'id="count-waiting">23<' in body
    # the section alone, for htmx, goes back a page
    back = re.search(r'hx-get="([^"]+)"[^>]*rel="prev"', body).group(1).replace("&amp;", "&")
    part = client.get(back, headers=htmx_headers()).get_data(as_text=True)
    assert part.lstrip().startswith('<section class="inbox-section" id="inbox-waiting">')
    assert refs_in(part, "waiting") == pages[1]


def test_paging_a_section_moves_the_pages_address_and_keeps_the_other_sections(
    client, org, make, sign_in
):
    for i in range(13):
        make.commitment(
            by=org.ana, owner=org.sales, route=[org.installation], due_in=timedelta(hours=20 + i)
        )
    sign_in(client, org.ivo)
    page = f"/departments/{org.installation.id}/inbox"
    body = client.get(f"{page}?sort=newest").get_data(as_text=True)
    section = re.search(r'hx-get="([^"]+)"[^>]*rel="next"', body).group(1).replace("&amp;", "&")
    # paged from a page whose address has another section further on (as htmx names it)
    shown = f"http://localhost{page}?sort=newest&accepted_after=abc"
    answer = client.get(section, headers={**htmx_headers(), "HX-Current-URL": shown})
    pushed = answer.headers["HX-Push-Url"]
    assert pushed.startswith(f"{page}?")
    assert "sort=newest" in pushed and "accepted_after=abc" in pushed and "waiting_after=" in pushed
    # the page at that address shows the section's second page, as the swap did
    again = client.get(pushed).get_data(as_text=True)
    assert refs_in(again, "waiting") == refs_in(answer.get_data(as_text=True), "waiting")
    assert len(refs_in(again, "waiting")) == 3
    # another page's address is not this inbox's: nothing of it is kept
    elsewhere = f"http://localhost/departments/{org.billing.id}/inbox?accepted_after=abc"
    answer = client.get(section, headers={**htmx_headers(), "HX-Current-URL": elsewhere})
    assert "accepted_after" not in answer.headers["HX-Push-Url"]
    assert "waiting_after=" in answer.headers["HX-Push-Url"]
    # a cursor whose moment is none in UTC is no cursor: the first page
    beyond = Cursor((datetime.fromisoformat("0001-01-01T00:00+23:59"), 1)).encode()
    assert client.get(f"{page}?waiting_after={beyond}").status_code == 200
    # nor is what is no address at all
    for hostile in ("http://[", "\x00" * 5000, f"{shown}&waiting_before={'x' * 9000}"):
        answer = client.get(section, headers={**htmx_headers(), "HX-Current-URL": hostile})
        assert answer.status_code == 200 and "waiting_after=" in answer.headers["HX-Push-Url"]


def test_a_page_of_10_and_of_50_run_the_same_queries_and_answering_updates_the_counts(
    client, org, make, sign_in, count_queries, now
):
    for index in range(30):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
        if index % 4 == 0:
            with writes():
                services.accept(c.handoffs[0], org.ivo, now)
    sign_in(client, org.ivo)
    inbox = f"/departments/{org.installation.id}/inbox"

    def queries(url):
        with count_queries() as statements:
            assert client.get(url).status_code == 200
        return len(statements)

    assert queries(f"{inbox}?per=10") == queries(f"{inbox}?per=50")
    assert queries(f"{inbox}?per=10&sort=newest") == queries(f"{inbox}?per=50&sort=newest")
    counts = client.get(f"{inbox}/counts", headers=htmx_headers()).get_data(as_text=True)
    assert 'id="count-waiting" hx-swap-oob="true">22<' in counts
    assert 'id="count-accepted" hx-swap-oob="true">8<' in counts


def test_newest_first_shows_the_last_asked_first(client, org, make, sign_in):
    first = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    last = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    body = client.get(f"/departments/{org.installation.id}/inbox?sort=newest").get_data(
        as_text=True
    )
    assert refs_in(body, "waiting") == [last.reference, first.reference]
    assert client.get(f"/departments/{org.installation.id}/inbox/nothing").status_code == 404
