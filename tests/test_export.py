"""The commitments of a period with their handoffs as CSV: the board's filters, a line per
handoff, streamed."""

import csv
import io
from datetime import timedelta
from zoneinfo import ZoneInfo

from handoff.board import export as export_module


def lines(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_a_period_exports_each_handoff_of_the_commitments_made_in_it(
    org, make, client, sign_in, now, monkeypatch
):
    monkeypatch.setattr(export_module, "CHUNK", 2)  # (read a few at a time, as a year is)
    two_steps = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation, org.billing], title="=SUM(A1)"
    )
    billing = make.commitment(by=org.ana, owner=org.sales, route=[org.billing])
    old = make.commitment(
        by=org.ana, owner=org.sales, route=[org.installation], at=now - timedelta(days=60)
    )
    for _ in range(3):  # more than a chunk
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    sign_in(client, org.ivo)
    # days are the reader's (late in the evening in UTC, Berlin is a day ahead)
    local = now.astimezone(ZoneInfo(org.ivo.time_zone))
    today = local.date().isoformat()
    period = {"from": (local - timedelta(days=7)).date().isoformat(), "to": today}
    response = client.get("/export.csv", query_string=period)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.is_streamed
    assert "attachment" in response.headers["Content-Disposition"]
    rows = lines(response)
    header, body = rows[0], rows[1:]
    assert header[:3] == ["commitment", "title", "customer"]
    refs = [r[0] for r in body]
    assert refs.count(two_steps.reference) == 2  # a line per handoff
    assert old.reference not in refs  # made before the period
    assert len(body) == 2 + 1 + 3
    first = body[refs.index(two_steps.reference)]
    assert first[1] == "'=SUM(A1)"  # a spreadsheet would run it: kept as text
    assert first[header.index("handed to")] == "Installation"
    assert first[header.index("state")] == "pending"

    only = client.get("/export.csv", query_string={**period, "department": org.billing.id})
    billing_refs = {r[0] for r in lines(only)[1:]}
    assert billing_refs == {two_steps.reference, billing.reference}
    mine = client.get("/export.csv", query_string={**period, "mine": "1"})  # Ivo: Installation
    mine_refs = {r[0] for r in lines(mine)[1:]}
    assert billing.reference not in mine_refs and two_steps.reference in mine_refs
    assert len(mine_refs) == 1 + 3


def test_a_period_it_cannot_read_is_said_and_nothing_is_sent(org, client, sign_in):
    sign_in(client, org.ivo)
    for query, said in (
        ({"from": "2026-13-45"}, "is not a date"),
        ({"from": "1900-01-01"}, "from 2000 to 2099"),
        ({"from": "2025-01-01", "to": "2026-12-31"}, "At most 366 days"),
        ({"from": "2026-03-30xyz"}, "is not a date"),
    ):
        response = client.get("/export.csv", query_string=query)
        assert response.status_code == 422, query
        assert said in response.get_data(as_text=True), query


def test_the_export_needs_a_signed_in_person(client):
    response = client.get("/export.csv")
    assert response.status_code in (302, 303, 401)
