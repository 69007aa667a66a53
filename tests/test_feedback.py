"""Customer feedback on fulfilled commitments: by the owner of the conversation, once."""

from datetime import timedelta

import pytest

from handoff.commitments import services
from handoff.kernel.db import db

from conftest import htmx_headers


@pytest.fixture
def fulfilled(org, make, now):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    services.accept(c.handoffs[0], org.ivo, now)
    services.complete(c.handoffs[0], org.ivo, now + timedelta(minutes=5))
    db.session.commit()
    return c


def test_the_owner_records_how_the_customer_felt(client, org, fulfilled, sign_in):
    sign_in(client, org.ana)
    page = client.get(f"/commitments/{fulfilled.reference}").get_data(as_text=True)
    assert "How did the customer feel about it?" in page
    response = client.post(
        f"/commitments/{fulfilled.reference}/feedback",
        data={"score": "4", "comment": "Quick, but the technician was late"},
    )
    assert response.status_code == 303
    page = client.get(f"/commitments/{fulfilled.reference}").get_data(as_text=True)
    assert "★★★★☆" in page and "the technician was late" in page
    assert "recorded the customer&#39;s feedback: 4/5" in page


def test_feedback_is_recorded_once(client, org, fulfilled, sign_in):
    sign_in(client, org.ana)
    url = f"/commitments/{fulfilled.reference}/feedback"
    client.post(url, data={"score": "5"})
    again = client.post(url, data={"score": "1"}, headers=htmx_headers())
    assert again.status_code == 409
    assert "Ana Ruiz already recorded the customer&#39;s feedback (5/5)" in again.get_data(
        as_text=True
    )


def test_only_the_owner_of_the_conversation_records_it(client, org, fulfilled, sign_in):
    sign_in(client, org.ivo)
    response = client.post(f"/commitments/{fulfilled.reference}/feedback", data={"score": "3"})
    assert response.status_code == 403
    assert "How did the customer feel" not in client.get(
        f"/commitments/{fulfilled.reference}"
    ).get_data(as_text=True)


def test_feedback_waits_until_the_commitment_is_fulfilled(client, org, make, sign_in):
    c = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ana)
    response = client.post(f"/commitments/{c.reference}/feedback", data={"score": "5"})
    assert response.status_code == 409
    assert "when the commitment is fulfilled" in response.get_data(as_text=True)


@pytest.mark.parametrize("score", ["", "0", "6", "five"])
def test_a_score_outside_1_to_5_is_refused(client, org, fulfilled, sign_in, score):
    sign_in(client, org.ana)
    response = client.post(f"/commitments/{fulfilled.reference}/feedback", data={"score": score})
    assert response.status_code == 422
    assert fulfilled.feedback is None
