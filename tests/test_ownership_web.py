"""Telling the customer through the pages: commitment page, inbox, lookup, settings."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from handoff.commitments import services
from handoff.kernel.db import db
from handoff.ownership.models import CustomerTask, OrganisationSettings

from conftest import fresh, htmx_headers


@pytest.fixture
def declined(org, make, now):
    """Sales promised; Installation (Ivo) declined, so Installation talks to the customer."""
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.decline(c.handoffs[0], org.ivo, now, "No technician free that week")
    db.session.commit()
    return c


def the_task(commitment) -> CustomerTask:
    db.session.rollback()
    query = select(CustomerTask).where(CustomerTask.commitment_id == commitment.id)
    return db.session.scalar(query)


def test_declining_in_the_inbox_moves_the_conversation(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    response = client.post(
        f"/handoffs/{c.handoffs[0].id}/decline",
        data={"reason": "No technician free", "view": "inbox"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    c = fresh(c)
    assert (c.customer_owner_department_id, c.customer_owner_person_id) == (
        org.installation.id,
        org.ivo.id,
    )
    inbox = client.get(f"/departments/{org.installation.id}/inbox").get_data(as_text=True)
    assert "Customers to tell" in inbox and c.reference in inbox


def test_the_commitment_page_shows_who_tells_the_customer_and_what_to_say(
    client, org, declined, sign_in
):
    sign_in(client, org.ivo)
    page = client.get(f"/commitments/{declined.reference}").get_data(as_text=True)
    assert "Telling the customer" in page
    assert "Installation · Ivo Berg</strong>" in page and "tells the customer by" in page
    assert "Installation will contact you by" in page  # the suggested sentence
    assert "Mark told" in page


def test_marking_told_answers_with_the_task_fragment(client, org, declined, sign_in):
    sign_in(client, org.ivo)
    task = the_task(declined)
    response = client.post(
        f"/tasks/{task.id}/told",
        data={"note": "Called; we will offer the week after"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "<html" not in body and f'id="task-{task.id}"' in body
    assert "told the customer" in body and "Mark told" not in body
    assert response.headers["HX-Trigger"] == "commitment-changed"
    assert "HX-Request" in response.headers["Vary"]
    assert fresh(task).outcome == "told"
    timeline = client.get(f"/commitments/{declined.reference}/timeline").get_data(as_text=True)
    assert "Ivo Berg (Installation) told the customer: Called; we will offer" in timeline


def test_the_inbox_badge_of_customers_to_tell_follows_marking_one_told(
    client, org, declined, sign_in
):
    sign_in(client, org.ivo)
    inbox = f"/departments/{org.installation.id}/inbox"
    page = client.get(inbox).get_data(as_text=True)
    assert 'id="count-tell">1<' in page
    # the page asks for its badges again when a task changed, the customers to tell among them
    counts_url = re.search(r'id="inbox-lists" hx-get="([^"]+)"', page).group(1)
    assert "tell=1" in counts_url
    assert "commitment-changed from:body" in page
    told = client.post(
        f"/tasks/{the_task(declined).id}/told", data={"note": "Called"}, headers=htmx_headers()
    )
    assert told.status_code == 200, told.get_data(as_text=True)
    counts = client.get(counts_url.replace("&amp;", "&"), headers=htmx_headers())
    assert 'id="count-tell" hx-swap-oob="true">0<' in counts.get_data(as_text=True)
    # a page without customers to tell asks only for the badges it has
    page = client.get(f"/departments/{org.sales.id}/inbox").get_data(as_text=True)
    assert "tell=1" not in re.search(r'id="inbox-lists" hx-get="([^"]+)"', page).group(1)


def test_the_customers_to_tell_page_as_the_inbox_sections_do(client, org, make, sign_in, now):
    made = []
    for i in range(13):
        c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
        services.decline(c.handoffs[0], org.ivo, now + timedelta(minutes=i), "No van")
        db.session.commit()
        made.append(c)
    sign_in(client, org.ivo)
    inbox = f"/departments/{org.installation.id}/inbox"

    def tell_refs(page: str) -> list[str]:
        part = page.split('id="inbox-tell"')[1].split("</section>")[0]
        return re.findall(r'class="ref" href="[^"]+">(C-\d+)<', part)

    first = client.get(f"{inbox}?sort=newest&waiting_after=abc").get_data(as_text=True)
    assert 'id="count-tell">13<' in first and len(tell_refs(first)) == 10
    following = re.search(r'href="([^"]+)"[^>]*rel="next"', first.split('id="inbox-tell"')[1])
    following = following.group(1).replace("&amp;", "&")
    # the next page keeps the order and where the other sections were
    assert "tell_after=" in following and "sort=newest" in following
    assert "waiting_after=abc" in following
    second = client.get(following).get_data(as_text=True)
    assert len(tell_refs(second)) == 3
    assert sorted(tell_refs(first) + tell_refs(second)) == sorted(c.reference for c in made)
    back = re.search(r'href="([^"]+)"[^>]*rel="prev"', second.split('id="inbox-tell"')[1])
    again = client.get(back.group(1).replace("&amp;", "&")).get_data(as_text=True)
    assert tell_refs(again) == tell_refs(first)
    # soonest deadline first, across the pages
    deadlines = {t.commitment_id: t.due_at for t in db.session.scalars(select(CustomerTask))}
    by_reference = {c.reference: deadlines[c.id] for c in made}
    shown = tell_refs(first) + tell_refs(second)
    assert [by_reference[r] for r in shown] == sorted(by_reference.values())
    # the last three told, the second page is past the end: the list says so and leads back
    for reference in tell_refs(second):
        task = next(t for t in made if t.reference == reference)
        told = client.post(
            f"/tasks/{the_task(task).id}/told", data={"note": "Called"}, headers=htmx_headers()
        )
        assert told.status_code == 200
    past = client.get(following).get_data(as_text=True)
    assert 'id="count-tell">10<' in past and "Nothing on this page." in past
    assert re.search(r'href="[^"]+"[^>]*>First page</a>', past.split('id="inbox-tell"')[1])
    assert "tell=1" in re.search(r'id="inbox-lists" hx-get="([^"]+)"', past).group(1)


def test_marking_told_without_a_note_shows_the_error_in_place(client, org, declined, sign_in):
    sign_in(client, org.ivo)
    task = the_task(declined)
    response = client.post(f"/tasks/{task.id}/told", data={"note": " "}, headers=htmx_headers())
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert "Say what the customer was told." in body and "<html" not in body
    assert fresh(task).is_open


def test_marking_told_without_htmx_gets_the_whole_page(client, org, declined, sign_in):
    sign_in(client, org.ivo)
    task = the_task(declined)
    response = client.post(f"/tasks/{task.id}/told", data={"note": "Called"})
    assert response.status_code == 200
    assert "<html" in response.get_data(as_text=True)


def test_only_the_department_that_talks_to_the_customer_marks_it_told(
    client, org, declined, sign_in
):
    sign_in(client, org.dev)  # Billing
    task = the_task(declined)
    page = client.get(f"/commitments/{declined.reference}").get_data(as_text=True)
    assert "Mark told" not in page
    response = client.post(f"/tasks/{task.id}/told", data={"note": "Called"})
    assert response.status_code == 403
    assert fresh(task).is_open


def test_told_twice_by_different_people_is_a_conflict(client, org, declined, sign_in):
    task = the_task(declined)
    sign_in(client, org.ivo)
    client.post(f"/tasks/{task.id}/told", data={"note": "Called"})
    sign_in(client, org.ben)
    response = client.post(
        f"/tasks/{task.id}/told", data={"note": "Emailed"}, headers=htmx_headers()
    )
    assert response.status_code == 409
    assert "Ivo Berg already marked it told" in response.get_data(as_text=True)
    assert fresh(task).note == "Called"


def test_an_unknown_task_is_404(client, org, sign_in):
    sign_in(client, org.ivo)
    assert client.post("/tasks/999999/told", data={"note": "x"}).status_code == 404


def test_the_lookup_names_the_new_owner_and_the_deadline(client, org, declined, sign_in):
    sign_in(client, org.dev)
    body = client.get(f"/lookup?q={declined.reference}", headers=htmx_headers()).get_data(
        as_text=True
    )
    assert "Installation · Ivo Berg</span> owns the customer conversation" in body
    assert "(Installation declined) and tells the customer by" in body
    assert "Installation will contact you by" in body


def test_admins_set_the_rule_and_the_deadline(client, org, make, sign_in, now):
    sign_in(client, org.ana)
    assert client.get("/admin/settings").status_code == 403
    sign_in(client, org.admin)
    page = client.get("/admin/settings").get_data(as_text=True)
    assert "You break it, you own it" in page and 'value="120"' in page
    bad = client.post("/admin/settings", data={"owner_moves": "y", "tell_customer_minutes": "-5"})
    assert bad.status_code == 422
    assert "From 0 to 14400 business minutes." in bad.get_data(as_text=True)
    db.session.rollback()
    assert OrganisationSettings.current().id is None  # nothing saved
    saved = client.post("/admin/settings", data={"tell_customer_minutes": "60"})  # box unticked
    assert saved.status_code == 303
    db.session.rollback()
    settings = OrganisationSettings.current()
    assert (settings.owner_moves, settings.tell_customer_minutes) == (False, 60)
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.decline(c.handoffs[0], org.ivo, now, "No")
    db.session.commit()
    assert fresh(c).customer_owner_department_id == org.sales.id  # the rule is off


def test_once_the_customer_was_told_the_lookup_shows_what_they_heard_and_promises_no_call(
    client, org, declined, sign_in
):
    """The next agent reads what the customer heard, from whom and when, and the sentence
    to say no longer announces a call that already happened."""
    sign_in(client, org.ivo)
    task = the_task(declined)
    before = client.get(f"/lookup?q={declined.reference}", headers=htmx_headers())
    assert "Installation will contact you by" in before.get_data(as_text=True)
    client.post(
        f"/tasks/{task.id}/told",
        data={"note": "Offered Thursday morning instead; they will confirm by mail"},
        headers=htmx_headers(),
    )
    assert the_task(declined).outcome == "told"
    sign_in(client, org.dev)  # another agent, in another department
    body = client.get(f"/lookup?q={declined.reference}", headers=htmx_headers()).get_data(
        as_text=True
    )
    assert "The customer heard</span> from Ivo Berg (Installation)" in body
    assert "“Offered Thursday morning instead; they will confirm by mail”" in body
    assert "will contact you" not in body
    assert "Installation spoke to you about it on" in body
