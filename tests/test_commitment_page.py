"""The commitment page: the promise, its handoffs, the discussion, the timeline, owner actions."""

from datetime import timedelta

import pytest

from handoff.commitments import services
from handoff.kernel.db import db

from conftest import fresh, htmx_headers


def test_the_page_shows_the_promise_the_route_and_the_timeline_newest_first(
    client, org, make, sign_in, now
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    services.decline(c.handoffs[1], org.dev, now + timedelta(minutes=5), "Needs a signed order")
    db.session.commit()
    sign_in(client, org.ivo)
    page = client.get(f"/commitments/{c.reference}").get_data(as_text=True)
    assert c.title in page and c.customer.name in page
    assert "Declined by Dev Patel" in page and "Needs a signed order" in page
    timeline = page.split('id="timeline"')[1]
    assert timeline.index("Billing declined") < timeline.index("Ana Ruiz recorded")


def test_an_unknown_reference_is_a_404_page(client, org, sign_in):
    sign_in(client, org.ivo)
    for reference in ("C-99999", "nonsense", "C-0"):
        response = client.get(f"/commitments/{reference}")
        assert response.status_code == 404
        assert "There is nothing at" in response.get_data(as_text=True)


def test_summary_and_timeline_fragments_refresh_after_a_change(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    page = client.get(f"/commitments/{c.reference}").get_data(as_text=True)
    assert 'hx-trigger="handoff-changed from:body"' in page
    client.post(f"/handoffs/{c.handoffs[0].id}/accept", headers=htmx_headers())
    summary = client.get(f"/commitments/{c.reference}/summary").get_data(as_text=True)
    assert "Confirmed" in summary and "<html" not in summary
    timeline = client.get(f"/commitments/{c.reference}/timeline").get_data(as_text=True)
    assert "Installation accepted" in timeline


def test_anyone_signed_in_writes_in_the_discussion(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.dev)
    response = client.post(
        f"/commitments/{c.reference}/comments",
        data={"body": "Can we do mornings?"},
        headers=htmx_headers(),
    )
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert body.lstrip().startswith('<section id="discussion"')
    assert "Can we do mornings?" in body and "Dev Patel" in body
    assert response.headers["HX-Trigger"] == "commitment-changed"


def test_an_empty_message_is_refused_in_place(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.dev)
    response = client.post(
        f"/commitments/{c.reference}/comments", data={"body": " "}, headers=htmx_headers()
    )
    assert response.status_code == 422
    assert "Write something first." in response.get_data(as_text=True)
    assert "Nothing written yet" in response.get_data(as_text=True)


def test_the_owner_side_edits_the_promise(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    assert client.get(f"/commitments/{c.reference}/edit").status_code == 403
    sign_in(client, org.ana)
    form = client.get(f"/commitments/{c.reference}/edit").get_data(as_text=True)
    assert c.title in form
    response = client.post(
        f"/commitments/{c.reference}/edit",
        data={"title": "Install by Friday", "details": "", "promised_at": "2031-01-10T09:00"},
    )
    assert response.status_code == 303
    edited = fresh(c)
    assert edited.title == "Install by Friday"
    assert edited.promised_at.isoformat() == "2031-01-10T08:00:00+00:00"


def test_an_edit_with_errors_keeps_the_form_and_changes_nothing(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    response = client.post(
        f"/commitments/{c.reference}/edit",
        data={"title": "", "details": "new", "promised_at": "2020-01-01T09:00"},
    )
    assert response.status_code == 422
    assert "Say what was promised." in response.get_data(as_text=True)
    assert fresh(c).details == ""


def test_the_owner_side_cancels_with_a_reason(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    url = f"/commitments/{c.reference}/cancel"
    assert client.post(url, data={"reason": "no"}, headers=htmx_headers()).status_code == 403
    sign_in(client, org.ana)
    response = client.post(url, data={"reason": ""}, headers=htmx_headers())
    assert response.status_code == 422
    assert fresh(c).cancelled_at is None
    response = client.post(url, data={"reason": "Customer withdrew"}, headers=htmx_headers())
    assert response.headers["HX-Redirect"] == f"/commitments/{c.reference}"
    assert fresh(c).cancelled_at is not None
    assert fresh(c.handoffs[0]).state == "cancelled"


def test_the_owner_side_adds_a_department_to_the_route(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    url = f"/commitments/{c.reference}/steps"
    data = {"department_id": str(org.billing.id), "ask": "Invoice it", "due_at": "2031-01-01T10:00"}
    bad = client.post(url, data={**data, "ask": ""}, headers=htmx_headers())
    assert bad.status_code == 422
    assert "Say what is asked" in bad.get_data(as_text=True)
    assert client.post(url, data=data).status_code == 303
    assert [h.department.name for h in fresh(c).handoffs] == ["Installation", "Billing"]
    again = client.post(url, data=data, headers=htmx_headers())
    assert again.status_code == 422
    assert "already on the route" in again.get_data(as_text=True)


def test_a_cancel_without_a_reason_comes_back_as_the_form_with_its_error_beside_the_field(
    client, org, make, sign_in
):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    response = client.post(
        f"/commitments/{c.reference}/cancel", data={"reason": " "}, headers=htmx_headers()
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert page.lstrip().startswith('<div class="owner-actions" id="owner-actions">')
    assert 'id="reason-errors"' in page and "A reason is required." in page
    assert fresh(c).cancelled_at is None
    full = client.post(f"/commitments/{c.reference}/cancel", data={})  # without htmx: the page
    assert full.status_code == 422 and "<h1>" in full.get_data(as_text=True)


def test_a_step_dated_in_the_past_is_refused_beside_its_date(client, org, make, sign_in, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    past = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    data = {"department_id": org.billing.id, "ask": "Invoice", "due_at": past}
    response = client.post(f"/commitments/{c.reference}/steps", data=data, headers=htmx_headers())
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    errors = page[page.index('id="due_at-errors"') :]
    assert "The date for Billing is in the past." in errors[:200]
    assert len(fresh(c).handoffs) == 1


def test_an_edit_to_a_past_date_is_refused_beside_the_date(client, org, make, sign_in, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    past = (now - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        f"/commitments/{c.reference}/edit", data={"title": "Router", "promised_at": past}
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "The promised time is in the past." in page[page.index('id="promised_at-errors"') :]
    assert fresh(c).title != "Router"


@pytest.mark.parametrize("written", ["C 1001", "C-1001%0d%0a", "C1001", "C-+1001", "C-1001 "])
def test_a_commitment_has_one_address(client, org, make, sign_in, written):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    assert c.reference == "C-1001"
    sign_in(client, org.ana)
    assert client.get("/commitments/C-1001").status_code == 200
    assert client.get("/commitments/c-1001").status_code == 200
    assert client.get(f"/commitments/{written}").status_code == 404
