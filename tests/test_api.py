"""The JSON API: tokens, recording with idempotency, reading, listing, answering, telling,
problem details, rate limits, and the document that describes it all."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from handoff.api import tokens
from handoff.api.models import ApiToken
from handoff.commitments.models import Commitment
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.promises import services as promise_services

from conftest import fresh


def token_of(person, scope="write", days=None) -> str:
    db.session.rollback()  # (a read the test began would keep SQLite's writers waiting)
    _, secret = tokens.create_token(person, name="Test", scope=scope, days=days, now=utcnow())
    db.session.commit()
    return secret


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def moment(days: float) -> str:
    return (utcnow() + timedelta(days=days)).replace(microsecond=0).isoformat()


def new_commitment(org, **changes) -> dict:
    body = {
        "customer": {"name": "Jana Nováková", "email": "jana@example.com"},
        "title": "Router installed by Friday",
        "channel": "phone",
        "promised_at": moment(5),
        "promised_by": org.sales.id,
        "route": [
            {"department_id": org.installation.id, "ask": "Install the router", "due_at": moment(4)}
        ],
    }
    body.update(changes)
    return body


def count_commitments() -> int:
    db.session.rollback()
    return db.session.scalar(select(func.count()).select_from(Commitment))


def is_problem(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert body["type"] == f"urn:handoff:problem:{body['code']}"
    if code:
        assert body["code"] == code
    return body


# --- tokens -----------------------------------------------------------------------------------


def test_no_token_a_wrong_one_or_a_session_cookie_alone_is_refused(org, client, sign_in):
    response = client.get("/api/v1/me")
    assert is_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert is_problem(client.get("/api/v1/me", headers=bearer("hnd_nonsense")), 401)
    sign_in(client, org.ana)  # a browser's session does not reach the API (no CSRF there)
    assert is_problem(client.get("/api/v1/me"), 401)
    assert client.get("/api/v1/me", headers=bearer(token_of(org.ana))).status_code == 200


def test_a_token_acts_as_its_owner_within_its_scope(org, client):
    secret = token_of(org.ivo, scope="read")
    me = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert me["email"] == org.ivo.email and me["scope"] == "read"
    assert [d["name"] for d in me["departments"]] == ["Installation"]
    refused = client.post("/api/v1/commitments", json=new_commitment(org), headers=bearer(secret))
    assert is_problem(refused, 403, "forbidden")
    assert "only read" in refused.get_json()["detail"]


def test_only_a_hash_is_kept_and_revoked_or_expired_tokens_stop_working(org, client, app):
    secret = token_of(org.ana)
    kept = db.session.scalars(select(ApiToken)).one()
    assert secret not in (kept.secret_hash, kept.shown) and kept.secret_hash == tokens.hash_of(
        secret
    )
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    db.session.rollback()
    tokens.revoke_token(org.ana, kept.id, utcnow())
    db.session.commit()
    assert is_problem(client.get("/api/v1/me", headers=bearer(secret)), 401)

    expiring = token_of(org.ana, days=1)
    token = db.session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None))).one()
    token.expires_at = utcnow() - timedelta(seconds=1)
    db.session.commit()
    assert is_problem(client.get("/api/v1/me", headers=bearer(expiring)), 401)

    closed = token_of(org.dev)
    db.session.rollback()
    fresh(org.dev).active = False
    db.session.commit()
    assert is_problem(client.get("/api/v1/me", headers=bearer(closed)), 401)


def test_last_use_is_noted(org, client):
    secret = token_of(org.ana)
    assert db.session.scalars(select(ApiToken)).one().last_used_at is None
    client.get("/api/v1/me", headers=bearer(secret))
    db.session.rollback()
    assert db.session.scalars(select(ApiToken)).one().last_used_at is not None


def test_tokens_are_made_and_revoked_on_the_profile_page(org, client, sign_in):
    sign_in(client, org.ana)
    made = client.post("/me/tokens", data={"name": "Our CRM", "scope": "write", "days": "30"})
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    secret = page.split('aria-label="Your new token" class="secret"')[0].rsplit('value="', 1)[1]
    secret = secret.split('"')[0]
    assert secret.startswith("hnd_")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    listed = client.get("/me").get_data(as_text=True)
    assert "Our CRM" in listed and secret not in listed  # shown once
    db.session.rollback()
    token = db.session.scalars(select(ApiToken)).one()
    assert client.post(f"/me/tokens/{token.id}/revoke").status_code == 303
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401
    refused = client.post("/me/tokens", data={"name": "", "scope": "write", "days": "30"})
    assert refused.status_code == 422 and "Name the token" in refused.get_data(as_text=True)


def test_nobody_revokes_another_persons_token(org, client, sign_in):
    token_of(org.ana)
    token = db.session.scalars(select(ApiToken)).one()
    sign_in(client, org.ivo)
    assert client.post(f"/me/tokens/{token.id}/revoke").status_code == 403
    assert client.post("/me/tokens/999999/revoke").status_code == 404
    db.session.rollback()
    assert db.session.get(ApiToken, token.id).revoked_at is None


def test_the_command_line_prints_a_working_token_once(org, app, client):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["api-token", "create", "--email", org.ben.email, "--scope", "write", "--days", "7"]
    )
    assert result.exit_code == 0, result.output
    secret = result.stdout.strip().splitlines()[-1]
    me = client.get("/api/v1/me", headers=bearer(secret)).get_json()
    assert me["name"] == "Ben Okafor" and me["scope"] == "write" and me["token_expires_at"]
    unknown = runner.invoke(args=["api-token", "create", "--email", "nobody@example.com"])
    assert unknown.exit_code != 0 and "Nobody has" in unknown.output


# --- recording ----------------------------------------------------------------------------------


def test_a_commitment_is_recorded_and_read_back(org, client):
    headers = bearer(token_of(org.ana))
    response = client.post("/api/v1/commitments", json=new_commitment(org), headers=headers)
    assert response.status_code == 201, response.get_json()
    made = response.get_json()
    assert response.headers["Location"].endswith(f"/api/v1/commitments/{made['reference']}")
    assert made["status"] in ("waiting", "at_risk") and made["customer"]["name"] == "Jana Nováková"
    assert made["made_by"]["name"] == "Ana Ruiz" and made["promised_by"]["name"] == "Sales"
    assert [h["department"]["name"] for h in made["handoffs"]] == ["Installation"]
    assert made["what_to_say"] and made["timeline"][-1]["kind"] == "recorded"

    read = client.get(f"/api/v1/commitments/{made['reference']}", headers=headers).get_json()
    assert read["reference"] == made["reference"] and read["handoffs"] == made["handoffs"]
    assert is_problem(client.get("/api/v1/commitments/C-999999", headers=headers), 404)


def test_a_retried_creation_with_the_same_key_records_once(org, client):
    headers = {**bearer(token_of(org.ana)), "Idempotency-Key": "crm-order-4711"}
    body = new_commitment(org)
    first = client.post("/api/v1/commitments", json=body, headers=headers)
    again = client.post("/api/v1/commitments", json=body, headers=headers)
    assert first.status_code == 201 and again.status_code == 201  # what the first one did
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["Location"] == first.headers["Location"]
    assert again.get_json()["reference"] == first.get_json()["reference"]
    assert count_commitments() == 1
    other = client.post("/api/v1/commitments", json={**body, "title": "Else"}, headers=headers)
    assert is_problem(other, 422, "idempotency_key_reused")
    assert count_commitments() == 1
    without = bearer(headers["Authorization"].split()[1])
    client.post("/api/v1/commitments", json=body, headers=without)
    assert count_commitments() == 2  # no key: each request records


def test_a_refused_creation_keeps_no_key(org, client):
    headers = {**bearer(token_of(org.ivo)), "Idempotency-Key": "k1"}  # Ivo is not in Sales
    assert is_problem(
        client.post("/api/v1/commitments", json=new_commitment(org), headers=headers), 403
    )
    headers = {**bearer(token_of(org.ana)), "Idempotency-Key": "k1"}
    assert (
        client.post("/api/v1/commitments", json=new_commitment(org), headers=headers).status_code
        == 201
    )


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"title": ""}, "title"),
        ({"channel": "pigeon"}, "channel"),
        ({"promised_at": "2026-05-12T10:00:00"}, "promised_at"),  # no offset: ambiguous
        ({"promised_at": "9999-01-01T00:00:00Z"}, "promised_at"),
        ({"route": []}, "route"),
        ({"colour": "red"}, "colour"),
        ({"promised_by": 0}, "promised_by"),
        ({"promised_by": "1"}, "promised_by"),  # a number is written as one
        ({"promised_at": 1893456000}, "promised_at"),  # a moment is written as text
        ({"title": "  \n"}, "title"),
        ({"customer": {"name": "Jana", "email": "not an address"}}, "customer.email"),
    ],
)
def test_a_request_of_the_wrong_shape_says_each_field(org, client, change, field):
    body = {**new_commitment(org), **change}
    response = client.post("/api/v1/commitments", json=body, headers=bearer(token_of(org.ana)))
    problem = is_problem(response, 422, "invalid_input")
    assert any(e["field"].startswith(field) for e in problem["errors"]), problem
    assert count_commitments() == 0


def test_the_domains_rules_are_the_pages_rules(org, client, make):
    headers = bearer(token_of(org.ana))
    past = new_commitment(org, promised_at=moment(-1))
    problem = is_problem(client.post("/api/v1/commitments", json=past, headers=headers), 422)
    assert problem["errors"][0]["field"] == "promised_at" and "past" in problem["detail"]
    twice = new_commitment(org)
    twice["route"] = twice["route"] * 2
    problem = is_problem(client.post("/api/v1/commitments", json=twice, headers=headers), 422)
    assert "twice" in problem["detail"] and problem["errors"][0]["field"] == "route.1.department_id"
    known = make.customer("Kim", account_ref="A-1")
    again = new_commitment(org, customer={"name": "Kim again", "account_ref": known.account_ref})
    problem = is_problem(client.post("/api/v1/commitments", json=again, headers=headers), 422)
    assert problem["errors"][0]["field"] == "customer.account_ref"  # (the API's name for it)
    nowhere = new_commitment(org)
    nowhere["route"][0]["department_id"] = 999999
    problem = is_problem(client.post("/api/v1/commitments", json=nowhere, headers=headers), 422)
    assert problem["errors"][0]["field"] == "route.0.department_id"
    assert count_commitments() == 0


def test_a_standing_promise_accepts_as_on_the_form(org, client):
    promise = promise_services.save_promise(
        org.installation,
        org.ben,
        utcnow(),
        promise=None,
        name="Standard install",
        covers="Install one router",
        lead_minutes=60,
        max_amount=None,
        max_quantity=2,
    )
    db.session.commit()
    body = new_commitment(org, promised_at=moment(30))
    body["route"][0].update(due_at=moment(29), standing_promise_id=promise.id, quantity=1)
    made = client.post("/api/v1/commitments", json=body, headers=bearer(token_of(org.ana)))
    handoff = made.get_json()["handoffs"][0]
    assert (
        handoff["state"] == "accepted" and handoff["standing_promise"]["name"] == "Standard install"
    )
    body["route"][0]["quantity"] = 3  # beyond its limit: the department must answer
    made = client.post("/api/v1/commitments", json=body, headers=bearer(token_of(org.ana)))
    assert made.get_json()["handoffs"][0]["state"] == "pending"


# --- answering ----------------------------------------------------------------------------------


def test_a_handoff_is_answered_as_on_the_pages(org, client, make):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    handoff_id = commitment.handoffs[0].id
    ivo, ana = bearer(token_of(org.ivo)), bearer(token_of(org.ana))
    listed = client.get(f"/api/v1/commitments/{commitment.reference}", headers=ivo).get_json()
    assert set(listed["handoffs"][0]["your_answers"]) == {"accept", "counter", "decline"}

    assert is_problem(
        client.post(f"/api/v1/handoffs/{handoff_id}/accept", json={}, headers=ana), 403
    )
    countered = client.post(
        f"/api/v1/handoffs/{handoff_id}/counter",
        json={"due_at": moment(6), "terms": "Thursday afternoon"},
        headers=ivo,
    )
    assert countered.status_code == 200 and countered.get_json()["handoff"]["state"] == "countered"
    late = client.post(f"/api/v1/handoffs/{handoff_id}/accept", json={}, headers=ivo)
    assert is_problem(late, 409, "conflict") and "countered already" in late.get_json()["detail"]
    taken = client.post(f"/api/v1/handoffs/{handoff_id}/take-counter", json={}, headers=ana)
    assert taken.get_json()["handoff"]["state"] == "accepted"
    again = client.post(f"/api/v1/handoffs/{handoff_id}/accept", json={}, headers=ivo)
    assert again.status_code == 200 and again.get_json()["changed"] is False  # as it stands
    done = client.post(f"/api/v1/handoffs/{handoff_id}/complete", json={"note": "ok"}, headers=ivo)
    assert done.get_json()["commitment_status"] == "fulfilled"
    read = client.get(f"/api/v1/commitments/{commitment.reference}", headers=ivo).get_json()
    kinds = [e["kind"] for e in read["timeline"]]
    assert kinds[0] == "complete" and {"take_counter", "counter"} <= set(kinds)
    assert is_problem(client.post("/api/v1/handoffs/999999/accept", json={}, headers=ivo), 404)


def test_a_decline_needs_a_reason_and_the_customer_is_told(org, client, make):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    handoff_id = commitment.handoffs[0].id
    ivo, ana = bearer(token_of(org.ivo)), bearer(token_of(org.ana))
    no_reason = client.post(f"/api/v1/handoffs/{handoff_id}/decline", json={}, headers=ivo)
    assert is_problem(no_reason, 422)["errors"][0]["field"] == "reason"
    declined = client.post(
        f"/api/v1/handoffs/{handoff_id}/decline", json={"reason": "No van"}, headers=ivo
    )
    assert declined.get_json()["handoff"]["state"] == "declined"
    reference = commitment.reference
    read = client.get(f"/api/v1/commitments/{reference}", headers=ana).get_json()
    assert "can't do this as promised" in read["what_to_say"]
    owner = read["customer_owner"]["department"]["name"]
    teller = ivo if owner == "Installation" else ana
    told = client.post(
        f"/api/v1/commitments/{reference}/told", json={"note": "Called her"}, headers=teller
    )
    assert told.status_code == 200 and told.get_json()["changed"] is True
    twice = client.post(
        f"/api/v1/commitments/{reference}/told", json={"note": "Again"}, headers=teller
    )
    assert is_problem(twice, 409)


# --- lists --------------------------------------------------------------------------------------


def test_commitments_are_listed_a_page_at_a_time_with_filters(org, client, make, now):
    customer = make.customer("Kim")
    ours = [
        make.commitment(
            by=org.ana,
            owner=org.sales,
            route=[org.installation],
            customer=customer,
            due_in=timedelta(days=n + 2),
        )
        for n in range(5)
    ]
    make.commitment(by=org.ana, owner=org.sales, route=[org.billing])
    headers = bearer(token_of(org.ivo))
    seen, cursor = [], None
    while True:
        query = {"customer": customer.id, "limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/commitments", query_string=query, headers=headers).get_json()
        assert len(page["items"]) <= 2
        seen += [c["reference"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [c.reference for c in ours]  # by the customer's date, none twice
    billing = client.get(
        "/api/v1/commitments", query_string={"department": org.billing.id}, headers=headers
    ).get_json()
    assert len(billing["items"]) == 1
    opened = client.get(
        "/api/v1/commitments", query_string={"status": "fulfilled"}, headers=headers
    ).get_json()
    assert opened["items"] == []
    bad = client.get("/api/v1/commitments", query_string={"limit": 1000}, headers=headers)
    assert is_problem(bad, 422)["errors"][0]["field"] == "limit"


def test_a_departments_inbox_by_section(org, client, make):
    for _ in range(3):
        make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    headers = bearer(token_of(org.ivo))
    inbox = client.get(
        f"/api/v1/departments/{org.installation.id}/inbox",
        query_string={"limit": 2},
        headers=headers,
    ).get_json()
    assert inbox["counts"]["waiting"] == 3 and len(inbox["items"]) == 2
    assert inbox["items"][0]["commitment"]["promised_by"]["name"] == "Sales"
    assert "accept" in inbox["items"][0]["your_answers"]
    rest = client.get(
        f"/api/v1/departments/{org.installation.id}/inbox",
        query_string={"limit": 2, "cursor": inbox["next_cursor"]},
        headers=headers,
    ).get_json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    departments = client.get("/api/v1/departments", headers=headers).get_json()["items"]
    assert [d["name"] for d in departments] == ["Billing", "Installation", "Sales"]
    assert is_problem(client.get("/api/v1/departments/999999/inbox", headers=headers), 404)


# --- the edges ----------------------------------------------------------------------------------


def test_requests_beyond_the_limit_are_told_when_to_come_back(org, app_factory):
    limited = app_factory(API_RATE_LIMIT="3 per minute").test_client()
    headers = bearer(token_of(org.ana))
    answers = [limited.get("/api/v1/me", headers=headers) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert "Retry-After" not in answers[0].headers  # (only a refusal says when to come back)
    assert answers[0].headers["X-RateLimit-Remaining"] == "2"
    is_problem(answers[-1], 429, "rate_limited")
    assert int(answers[-1].headers["Retry-After"]) > 0
    other = bearer(token_of(org.ivo))  # each token has its own allowance
    assert limited.get("/api/v1/me", headers=other).status_code == 200


def test_made_up_tokens_share_their_addresss_allowance(org, app_factory):
    limited = app_factory(API_RATE_LIMIT="3 per minute").test_client()
    answers = [
        limited.get("/api/v1/me", headers=bearer(f"hnd_made-up-{n}")).status_code for n in range(4)
    ]
    assert answers == [401, 401, 401, 429]


def test_unknown_addresses_and_methods_answer_problems(org, client):
    headers = bearer(token_of(org.ana))
    is_problem(client.get("/api/v1/nothing-here", headers=headers), 404)
    is_problem(client.delete("/api/v1/commitments", headers=headers), 405)
    is_problem(client.get("/api/v1/me", query_string={"x": "a\x00b"}, headers=headers), 400)
    not_json = client.post(
        "/api/v1/commitments", data="{not json", content_type="application/json", headers=headers
    )
    is_problem(not_json, 400)
    a_form = client.post("/api/v1/handoffs/1/complete", data={"note": "x"}, headers=headers)
    is_problem(a_form, 415, "unsupported_media_type")
    a_list = client.post("/api/v1/handoffs/1/complete", json=["note"], headers=headers)
    is_problem(a_list, 400)


def test_the_document_describes_every_route_of_the_api(org, client, web_app):
    document = client.get("/api/v1/openapi.json").get_json()
    assert document["openapi"] == "3.1.0"
    described = {
        (path, method.upper())
        for path, operations in document["paths"].items()
        for method in operations
    }
    served = {
        (rule.rule.replace("<int:", "{").replace("<", "{").replace(">", "}"), method)
        for rule in web_app.url_map.iter_rules()
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    assert described == served
    create = document["paths"]["/api/v1/commitments"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "CommitmentIn"
    )
    assert "application/problem+json" in create["responses"]["422"]["content"]
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
