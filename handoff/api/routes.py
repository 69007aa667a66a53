"""The JSON API, /api/v1: what the pages do, for other systems, through the same services.

A request carries a personal token (`Authorization: Bearer hnd_…`) and acts with exactly its
owner's rights; no session cookie counts here and no CSRF token is asked. A read-only token
reads. Requests and answers are the pydantic models of handoff.api.schemas: spectree checks
each request against them and makes the OpenAPI document (/api/v1/openapi.json) of them.
Errors are problem details (handoff.api.problems), answered by the app's error handlers as
the pages' errors are, with the same statuses.
"""

import hashlib
import json
from datetime import datetime

from flask import Blueprint, current_app, g, request, url_for
from flask_login import current_user
from spectree import Response, SpecTree
from sqlalchemy import and_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import NotFound

from handoff.accounts.models import Person
from handoff.api import schemas, tokens
from handoff.api.problems import ApiProblem, Unauthorized
from handoff.board.queries import involves, status_condition
from handoff.commitments import services
from handoff.commitments.answers import ANSWERS, answers_for, refusal
from handoff.commitments.lifecycle import Action, InvalidTransition
from handoff.commitments.models import Commitment, Handoff
from handoff.commitments.rows import commitment_rows, handoff_cards
from handoff.commitments.sentences import customer_sentence
from handoff.commitments.status import STATUS_LABELS, Status
from handoff.customers.services import CustomerInput, find_or_create_customer
from handoff.departments.models import Department
from handoff.extensions import csrf, limiter
from handoff.inbox.queries import section_counts, section_pages
from handoff.kernel.clock import utcnow
from handoff.kernel.db import commit_writes, db, reads_first, transaction
from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed
from handoff.kernel.paging import Cursor, fetch_after, page_of
from handoff.kernel.timeline import TimelineEvent
from handoff.ownership.services import last_told_by_commitment, mark_told, open_task_by_commitment
from handoff.promises.models import StandingPromise
from handoff.web import at_risk_within, format_when

bp = Blueprint("api", __name__, url_prefix="/api/v1")
csrf.exempt(bp)  # a token is sent on purpose by its holder; a browser sends no bearer token
PUBLIC = {"api.openapi"}
MAX_KEY = 255  # characters of an Idempotency-Key


def _refuse_invalid(request, response, error, instance, *rest) -> None:
    """A request that does not match its schema: 422 with each field at fault."""
    if error is None:
        return
    errors = [
        schemas.FieldProblem(
            field=".".join(_path(e["loc"])) or None,
            message=e["msg"].removeprefix("Value error, "),
        )
        for e in error.errors()
    ]  # (pydantic's "Value error, " before a check's own words says nothing to a client)
    raise ApiProblem(
        422,
        "Not valid",
        "The request does not match what this address takes. Nothing was changed.",
        "invalid_input",
        errors=errors,
    )


def _path(loc) -> list[str]:
    """A field's path as the client wrote it: without the names pydantic gives the members of
    a union (KnownCustomer) or the kinds of a check (literal[''], function-after[…])."""
    return [str(p) for p in loc if not (isinstance(p, str) and (p[:1].isupper() or "[" in p))]


spec = SpecTree(
    "flask",
    title="Handoff API",
    version="1",
    description="Record commitments, read their status, and answer handoffs, as the board "
    "does. Every request carries a personal API token: `Authorization: Bearer hnd_…`.",
    path="apidoc",  # (the document is served by this blueprint: openapi below)
    page_templates={},
    mode="strict",
    annotations=True,
    security_schemes=[
        {"name": "token", "data": {"type": "http", "scheme": "bearer"}},
    ],
    security={"token": []},
    before=_refuse_invalid,
    validation_error_model=schemas.Problem,
    naming_strategy=lambda model: model.__name__,
    nested_naming_strategy=lambda parent, child: child,
)

# Every operation can answer these, besides its own.
PROBLEMS = {
    f"HTTP_{code}": (schemas.Problem, words)
    for code, words in {
        400: "Not understood",
        401: "No valid token",
        403: "Not allowed",
        404: "Not found",
        415: "The body is not JSON",
        429: "Too many requests: see Retry-After",
        503: "Busy: try again",
    }.items()
}


CONFLICT = (schemas.Problem, "Not in a state that allows this")


def answers(**codes) -> Response:
    return Response(**PROBLEMS, **codes)


def _token():
    """The request's token if it is one that works, read once a request (None: it is not)."""
    if "api_token" not in g:
        scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
        found = None
        if scheme.lower() == "bearer" and secret.strip():
            found = tokens.token_for(secret.strip(), utcnow())
        g.api_token = found
    return g.api_token


def _rate_key() -> str:
    """Each token that works has its own allowance; every other request (none, a wrong one,
    made-up ones by the thousand) shares its address's."""
    token = _token()
    return f"token:{token.id}" if token is not None else "address:" + (request.remote_addr or "")


limiter.limit(lambda: current_app.config["API_RATE_LIMIT"], key_func=_rate_key)(bp)


@bp.before_request
def _with_token():
    """The person of the token, for this request alone (never the session's)."""
    if request.endpoint in PUBLIC:
        return
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthorized("Send a personal API token: Authorization: Bearer hnd_….")
    token = _token()
    if token is None:
        raise Unauthorized("This token is unknown, expired or revoked.")
    g._login_user = token.person  # Flask-Login's current_user, for this request only
    if request.method not in ("GET", "HEAD", "OPTIONS") and not token.may_write:
        raise NotAllowed("This token may only read.")
    if request.method == "POST":
        _require_json_object()
    _note_use(token)


def _note_use(token) -> None:
    """When the token was last used, in a transaction of its own (a writer from its start:
    on SQLite, a read transaction that then writes fails if another wrote meanwhile)."""
    now = utcnow()
    if token.last_used_at is not None and now - token.last_used_at < tokens.USE_NOTED_EVERY:
        return
    with transaction():
        tokens.note_use(token, now)


def _require_json_object() -> None:
    """A request that changes something sends a JSON object ({} when it says nothing more)."""
    if request.mimetype != "application/json":
        raise ApiProblem(
            415,
            "Not JSON",
            "Send the body as application/json. Nothing was changed.",
            "unsupported_media_type",
        )
    if not isinstance(request.get_json(silent=True), dict):
        raise ApiProblem(
            400,
            "Not understood",
            "The body is not a JSON object ({} when there is nothing to say). Nothing was changed.",
        )


@bp.after_request
def _never_kept(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 document of this API."""
    return current_app.json.response(openapi_document())


def openapi_document() -> dict:
    """The document spectree makes of the routes and schemas, with the media type of errors
    as they are sent (application/problem+json)."""
    if not hasattr(spec, "app"):
        spec.app = current_app
    document = json.loads(json.dumps(spec.spec))
    for path in document["paths"].values():
        for operation in path.values():
            for status, answer in operation.get("responses", {}).items():
                content = answer.get("content", {})
                if status >= "400" and "application/json" in content:
                    answer["content"] = {"application/problem+json": content["application/json"]}
    document["servers"] = [{"url": "/"}]
    return document


# --- shaping the answers ----------------------------------------------------------------------


def _named(thing) -> schemas.Named | None:
    return None if thing is None else schemas.Named(id=thing.id, name=thing.name)


def _amount(value) -> str | None:
    return None if value is None else f"{value:.2f}"


def handoff_out(handoff, person: Person, now: datetime) -> dict:
    """A handoff (an entity or a card) as the API shows it."""
    return {
        "id": handoff.id,
        "department": _named(handoff.department),
        "ask": handoff.ask,
        "due_at": handoff.due_at,
        "state": handoff.state,
        "requested_at": handoff.requested_at,
        "answered_at": handoff.answered_at,
        "answered_by": _named(handoff.answered_by),
        "answered_for": _named(handoff.answered_for),
        "note": handoff.answer_note,
        "counter_due_at": handoff.counter_due_at,
        "counter_terms": handoff.counter_terms,
        "standing_promise": _named(handoff.standing_promise),
        "amount": _amount(handoff.amount),
        "quantity": handoff.quantity,
        "done_at": handoff.done_at,
        "your_answers": [a.name for a in answers_for(person, handoff, now) if a.by_mail],
    }


def commitment_out(commitment: Commitment, person: Person, now: datetime) -> schemas.Commitment:
    status = commitment.status(now, at_risk_within())
    task = open_task_by_commitment([commitment.id]).get(commitment.id)
    told = last_told_by_commitment([commitment.id]).get(commitment.id)
    timeline = db.session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.commitment_id == commitment.id)
        .order_by(TimelineEvent.created_at.desc(), TimelineEvent.id.desc())
    )
    return schemas.Commitment(
        reference=commitment.reference,
        url=url_for("commitments.show", reference=commitment.reference, _external=True),
        title=commitment.title,
        details=commitment.details,
        channel=commitment.channel,
        status=status.value,
        status_label=STATUS_LABELS[status],
        promised_at=commitment.promised_at,
        created_at=commitment.created_at,
        cancelled_at=commitment.cancelled_at,
        cancel_reason=commitment.cancel_reason,
        customer=schemas.Customer.model_validate(commitment.customer, from_attributes=True),
        promised_by=_named(commitment.owner_department),
        made_by=_named(commitment.made_by),
        customer_owner=schemas.Owner(
            department=_named(commitment.customer_owner_department),
            person=_named(commitment.customer_owner_person),
        ),
        what_to_say=customer_sentence(commitment, status, now, format_when, task, told),
        handoffs=[handoff_out(h, person, now) for h in commitment.handoffs],
        timeline=[
            schemas.TimelineEntry(at=e.created_at, kind=e.kind, words=e.words) for e in timeline
        ],
    )


def get_commitment(reference: str) -> Commitment:
    commitment_id = Commitment.id_from_reference(reference)
    commitment = db.session.get(Commitment, commitment_id) if commitment_id else None
    if commitment is None:
        raise NotFound(f"There is no commitment {reference}.")
    return commitment


# --- commitments ------------------------------------------------------------------------------


@bp.post("/commitments")
@spec.validate(
    json=schemas.CommitmentIn,
    resp=answers(HTTP_201=schemas.Commitment, HTTP_409=CONFLICT),
    tags=["commitments"],
    operation_id="create_commitment",
)
def create_commitment(json: schemas.CommitmentIn):
    """Record a commitment and hand each step of its route to its department.

    Standing promises apply as on the form: a step that names one of its department's
    promises and fits within it is accepted at once. Send an `Idempotency-Key` header
    (any text up to 255 characters) to retry safely: a request repeated with the same key
    within a day answers what the first one did (the same 201, body and Location, with
    `Idempotent-Replayed: true`) and records nothing more; the same key with another body is
    refused (422).
    """
    person = current_user._get_current_object()
    key = request.headers.get("Idempotency-Key")
    fingerprint = hashlib.sha256(
        ("POST /commitments " + json.model_dump_json()).encode("utf-8", "surrogatepass")
    ).hexdigest()
    if key is not None:
        _check_key(key)
        earlier = tokens.earlier_answer(person, key)
        if earlier is not None:
            return _replay(earlier, fingerprint)
    now = utcnow()
    try:
        commitment = _record(json, person, now)
    except InvalidInput as error:  # the services name the form's fields: say the API's
        db.session.rollback()
        field = FORM_FIELDS.get(error.field, error.field)
        raise _unknown(field, str(error)) from None
    db.session.flush()
    answer = commitment_out(commitment, person, now)
    if key is not None:
        body = answer.model_dump_json()
        tokens.keep_answer(person, key, fingerprint, 201, body, now)
    try:
        commit_writes()
    except IntegrityError:
        db.session.rollback()
        earlier = tokens.earlier_answer(person, key) if key is not None else None
        if earlier is None:
            raise
        return _replay(earlier, fingerprint)  # the same request, sent twice at once
    location = url_for("api.read_commitment", reference=commitment.reference)
    return answer, 201, {"Location": location}


# The fields a service's refusal names as the form calls them, as the API calls them.
FORM_FIELDS = {
    "customer_id": "customer.id",
    "new_customer_name": "customer.name",
    "new_customer_account_ref": "customer.account_ref",
}


def _check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY or not key.isprintable():
        raise ApiProblem(
            422,
            "Not valid",
            f"An Idempotency-Key is 1 to {MAX_KEY} printable characters. Nothing was changed.",
            "invalid_input",
            errors=[schemas.FieldProblem(field="Idempotency-Key", message="not a valid key")],
        )


def _replay(earlier, fingerprint: str):
    """The first request's answer again, as it was: its status, its body, its Location."""
    if earlier.fingerprint != fingerprint:
        raise ApiProblem(
            422,
            "Key used before",
            "This Idempotency-Key was sent before with another request. Nothing was changed.",
            "idempotency_key_reused",
        )
    body = current_app.response_class(earlier.body, mimetype="application/json")
    headers = {"Idempotent-Replayed": "true"}
    reference = json.loads(earlier.body).get("reference")
    if reference:
        headers["Location"] = url_for("api.read_commitment", reference=reference)
    return body, earlier.status, headers


def _record(given: schemas.CommitmentIn, person: Person, now: datetime) -> Commitment:
    owner = db.session.get(Department, given.promised_by)
    if owner is None:
        raise _unknown("promised_by", f"There is no department {given.promised_by}.")
    route = []
    for n, step in enumerate(given.route):
        department = db.session.get(Department, step.department_id)
        if department is None:
            raise _unknown(
                f"route.{n}.department_id", f"There is no department {step.department_id}."
            )
        promise = None
        if step.standing_promise_id is not None:
            promise = db.session.get(StandingPromise, step.standing_promise_id)
            if promise is None or not promise.active:
                raise _unknown(
                    f"route.{n}.standing_promise_id",
                    f"There is no standing promise {step.standing_promise_id} in force.",
                )
        route.append(
            services.RouteStep(
                department=department,
                ask=step.ask,
                due_at=step.due_at,
                standing_promise=promise,
                amount=step.amount,
                quantity=step.quantity,
            )
        )
    known = isinstance(given.customer, schemas.KnownCustomer)
    new = given.customer if not known else schemas.NewCustomer(name="-")
    customer = find_or_create_customer(
        given.customer.id if known else None,
        CustomerInput(name=new.name, email=new.email, phone=new.phone, account_ref=new.account_ref),
    )
    return services.record_commitment(
        actor=person,
        customer=customer,
        title=given.title,
        details=given.details,
        channel=given.channel,
        promised_at=given.promised_at,
        owner_department=owner,
        route=route,
        now=now,
    )


def _unknown(field: str, message: str) -> ApiProblem:
    return ApiProblem(
        422,
        "Not saved",
        f"{message} Nothing was changed.",
        "invalid_input",
        errors=[schemas.FieldProblem(field=field, message=message)],
    )


@bp.get("/commitments/<reference>")
@spec.validate(
    resp=answers(HTTP_200=schemas.Commitment), tags=["commitments"], operation_id="read_commitment"
)
def read_commitment(reference: str):
    """A commitment by its reference (C-1042): its handoffs, status, who talks to the
    customer, what to say to them now, and its timeline."""
    commitment = get_commitment(reference)
    return commitment_out(commitment, current_user, utcnow())


LIST_KEYS = (Commitment.promised_at, Commitment.id)


@bp.get("/commitments")
@spec.validate(
    query=schemas.CommitmentQuery,
    resp=answers(HTTP_200=schemas.CommitmentPage),
    tags=["commitments"],
    operation_id="list_commitments",
)
def list_commitments(query: schemas.CommitmentQuery):
    """Commitments by the customer's date (then reference), a page at a time: pass the
    answer's `next_cursor` as `?cursor=` for the next page."""
    now = utcnow()
    conditions = []
    if query.customer is not None:
        conditions.append(Commitment.customer_id == query.customer)
    if query.department is not None:
        conditions.append(involves([query.department]))
    if query.due_after is not None:
        conditions.append(Commitment.promised_at >= query.due_after)
    if query.due_before is not None:
        conditions.append(Commitment.promised_at < query.due_before)
    conditions += _status_conditions(query.status, now)
    cursor = Cursor.read(query.cursor, (datetime, int))
    rows, more = fetch_after(
        select(Commitment.id, *LIST_KEYS).where(and_(True, *conditions)),
        LIST_KEYS,
        cursor,
        query.limit,
        as_rows=True,
    )
    page = page_of(rows, more, lambda row: (row.promised_at, row.id), cursor)
    items = []
    for row in commitment_rows([row.id for row in page.rows]):
        status = row.status(now, at_risk_within())
        items.append(
            schemas.CommitmentBrief(
                reference=row.reference,
                url=url_for("commitments.show", reference=row.reference, _external=True),
                title=row.title,
                status=status.value,
                promised_at=row.promised_at,
                cancelled_at=row.cancelled_at,
                customer=_named(row.customer),
                promised_by=_named(row.owner_department),
                handoffs=[
                    schemas.StepBrief(
                        id=h.id, department=_named(h.department), state=h.state, due_at=h.due_at
                    )
                    for h in row.handoffs
                ],
            )
        )
    return schemas.CommitmentPage(items=items, next_cursor=page.after)


def _status_conditions(status: str | None, now: datetime) -> list:
    if status is None:
        return []
    if status == "open":
        return [Commitment.on_board.is_(True)]
    if status == "fulfilled":
        return [Commitment.on_board.is_(False), Commitment.cancelled_at.is_(None)]
    if status == "cancelled":
        return [Commitment.cancelled_at.is_not(None)]
    return [Commitment.on_board.is_(True), status_condition(Status(status), now, at_risk_within())]


@bp.post("/commitments/<reference>/told")
@reads_first
@spec.validate(
    json=schemas.ToldIn,
    resp=answers(HTTP_200=schemas.Told, HTTP_409=CONFLICT),
    tags=["commitments"],
    operation_id="mark_customer_told",
)
def mark_customer_told(reference: str, json: schemas.ToldIn):
    """Someone told the customer what happened: closes the open task to tell them."""
    commitment = get_commitment(reference)
    task = open_task_by_commitment([commitment.id]).get(commitment.id)
    if task is None:
        raise Conflict("Nobody needs to tell this customer anything now.")
    now = utcnow()
    changed = mark_told(task, current_user, now, json.note)
    commit_writes()
    commitment = get_commitment(reference)
    return schemas.Told(changed=changed, commitment=commitment_out(commitment, current_user, now))


# --- answering handoffs -----------------------------------------------------------------------


def _answer_route(name: str, given: type[schemas.In], summary: str):
    """POST /handoffs/<id>/<name>: one answer, with what it takes."""
    answer = ANSWERS[name]

    def give(handoff_id: int, json):
        handoff = db.session.get(Handoff, handoff_id)
        if handoff is None:
            raise NotFound(f"There is no handoff {handoff_id}.")
        person = current_user._get_current_object()
        now = utcnow()
        refused = refusal(person, handoff, answer, now)
        if refused:
            raise NotAllowed(refused)
        try:
            outcome = services.give_answer(handoff, answer.action, person, now, **json.answer())
        except InvalidTransition:
            db.session.rollback()
            handoff = db.session.get(Handoff, handoff_id)
            raise Conflict(
                f"It is {handoff.state} already ({handoff.changed_by.name}, "
                f"{handoff.changed_at.isoformat()}): it cannot be given '{name}' now."
            ) from None
        commit_writes()
        handoff = db.session.get(Handoff, handoff_id)
        status = handoff.commitment.status(now, at_risk_within())
        return schemas.Answered(
            changed=outcome.changed,
            handoff=handoff_out(handoff, person, now),
            commitment_status=status.value,
        )

    give.__name__ = "answer_" + name.replace("-", "_")
    give.__doc__ = summary
    give.__annotations__ = {"handoff_id": int, "json": given}
    view = spec.validate(
        json=given,
        resp=answers(HTTP_200=schemas.Answered, HTTP_409=CONFLICT),
        tags=["handoffs"],
        operation_id=give.__name__,
    )(give)
    bp.post(f"/handoffs/<int:handoff_id>/{name}")(reads_first(view))


# What each answer takes, and what it does: an answer given by mail (commitments.answers) is an
# API route; one missing here stops the app from starting.
ANSWER_ROUTES = {
    Action.ACCEPT: (schemas.NoteIn, "The department accepts its handoff as asked."),
    Action.COUNTER: (
        schemas.CounterIn,
        "The department answers with what it can do: another date (`due_at`), terms, or both.",
    ),
    Action.DECLINE: (schemas.ReasonIn, "The department declines; a reason is required."),
    Action.COMPLETE: (schemas.NoteIn, "The department marks its accepted handoff done."),
    Action.TAKE_COUNTER: (
        schemas.Nothing,
        "The promising department takes the counter (the customer's date moves if it must).",
    ),
    Action.REJECT_COUNTER: (
        schemas.ReasonIn,
        "The promising department rejects the counter: the handoff is asked again as it was.",
    ),
}
for _answer in ANSWERS.values():
    if _answer.by_mail:
        _answer_route(_answer.name, *ANSWER_ROUTES[_answer.action])


# --- departments ------------------------------------------------------------------------------


@bp.get("/departments")
@spec.validate(
    resp=answers(HTTP_200=schemas.DepartmentList), tags=["departments"], operation_id="departments"
)
def departments():
    """Every department, by name: their ids are what a route names."""
    found = db.session.scalars(  # (who is on duty, with them: not a query per department)
        select(Department).options(selectinload(Department.on_duty)).order_by(Department.name)
    )
    return schemas.DepartmentList(
        items=[schemas.Department(id=d.id, name=d.name, on_duty=_named(d.on_duty)) for d in found]
    )


@bp.get("/departments/<int:department_id>/inbox")
@spec.validate(
    query=schemas.InboxQuery,
    resp=answers(HTTP_200=schemas.Inbox),
    tags=["departments"],
    operation_id="inbox",
)
def inbox(department_id: int, query: schemas.InboxQuery):
    """One section of a department's inbox, soonest due first, a page at a time: waiting
    (for its answer), settle (counters to its own promises), countered, accepted (to do)."""
    department = db.session.get(Department, department_id)
    if department is None:
        raise NotFound(f"There is no department {department_id}.")
    now = utcnow()
    counts = section_counts(department.id)
    positions = {query.section: {"after": query.cursor}} if query.cursor else None
    page = section_pages(department.id, [query.section], query.limit, "due", positions)[
        query.section
    ]
    cards = handoff_cards([row.id for row in page.rows])
    person = current_user._get_current_object()
    items = []
    for row in page.rows:
        card = cards.get(row.id)
        if card is None:
            continue
        c = card.commitment
        items.append(
            {
                **handoff_out(card, person, now),
                "commitment": {
                    "reference": Commitment.reference_of(c.id),
                    "title": c.title,
                    "customer": _named(c.customer),
                    "promised_by": _named(c.owner_department),
                },
            }
        )
    return schemas.Inbox(
        department=_named(department),
        section=query.section,
        counts=schemas.InboxCounts(**counts),
        items=items,
        next_cursor=page.after,
    )


@bp.get("/me")
@spec.validate(resp=answers(HTTP_200=schemas.Me), tags=["me"], operation_id="me")
def me():
    """Whose token this is, their departments, and what the token may do."""
    person = current_user._get_current_object()
    return schemas.Me(
        id=person.id,
        name=person.name,
        email=person.email,
        departments=[_named(d) for d in person.departments],
        scope=g.api_token.scope,
        token_expires_at=g.api_token.expires_at,
    )
