"""Hostile input on every route of the app, as every kind of person, with and without htmx:
never a 500, and after any 4xx the database is exactly as it was.

Each endpoint has a spec: what its URL parts, query arguments and form fields are. Values are
drawn half from what a real page would send (ids of this and other departments, references,
tokens, dates) and half from what an attacker sends (long strings, control characters and NUL,
Unicode digits and case pairs, HTML, SQL, DST-gap times, huge and negative numbers, wrong
types), fields are left out or repeated, and the body is sometimes not a form at all. A route
added to the app without a spec here fails `test_every_route_has_a_fuzz_spec`.

HANDOFF_FUZZ_EXAMPLES sets the examples per endpoint (default 25); HANDOFF_FUZZ_RANDOM=1
draws new ones on every run instead of the same ones; HANDOFF_FUZZ_REPORT=file writes a line
per request (endpoint, method, persona, status) to see where the requests landed.
"""

import hashlib
import io
import json
import os
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import MultiDict

from handoff import create_app
from handoff.accounts.models import Absence, Person
from handoff.api import tokens
from handoff.api.models import ApiToken
from handoff.commitments import services
from handoff.commitments.answers import ANSWERS
from handoff.commitments.models import Handoff
from handoff.customers.models import Customer
from handoff.departments import away
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor
from handoff.mail import OutboxMessage
from handoff.nagging.links import make_token
from handoff.nagging.models import NaggerProcess
from handoff.nagging.sweep import sweep
from handoff.ownership.models import CustomerTask
from handoff.promises import services as promise_services
from handoff.promises.models import StandingPromise
from handoff.webhooks import services as webhooks
from handoff.webhooks.models import Webhook, WebhookDelivery

from conftest import PASSWORD, writes
from nagging_helpers import set_policy

EXAMPLES = int(os.environ.get("HANDOFF_FUZZ_EXAMPLES", "25"))
RANDOM = os.environ.get("HANDOFF_FUZZ_RANDOM") == "1"
REPORT = os.environ.get("HANDOFF_FUZZ_REPORT")  # a file: one line per request, to see the spread
# Rows that a refused request is meant to leave behind: a failed sign-in is counted.
CHANGED_BY_REFUSALS = {"sign_in_failure"}


@dataclass(frozen=True)
class Spec:
    """What an endpoint reads: URL parts, query arguments and form fields, each by kind."""

    path: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    form: dict[str, str] = field(default_factory=dict)


ROUTE_STEP = {
    f"route-{i}-{name}": kind
    for i in range(2)
    for name, kind in (
        ("department_id", f"route_department_{i}"),
        ("ask", "text"),
        ("due_at", "datetime"),
        ("standing_promise_id", "step_promise"),
        ("amount", "decimal"),
        ("quantity", "int"),
    )
}
COMMITMENT_FORM = {
    "customer_id": "customer",
    "new_customer_name": "text",
    "new_customer_email": "email",
    "new_customer_phone": "text",
    "new_customer_account_ref": "text",
    "title": "text",
    "details": "text",
    "promised_at": "datetime",
    "channel": "choice:phone|email|in_person|web|chat",
    "owner_department_id": "own_department",
    "op": "choice:save|save|save|save|save|add-step|remove-route-0|remove-route-1",
    **ROUTE_STEP,
}
PERSON_FORM = {
    "name": "text",
    "email": "email",
    "password": "password",
    "time_zone": "zone",
    "is_admin": "bool",
    "active": "bool",
}
POLICY_FORM = {
    "time_zone": "zone",
    "always_open": "bool",
    "work_days": "weekdays",
    "day_start": "time",
    "day_end": "time",
    "holidays": "text",
    "holiday_country": "choice:DE|US|FR|XX",
    "ack_window_minutes": "int",
    "cadence_minutes": "int",
    "escalate_after": "int",
    "org_escalate_after": "int",
    "due_soon_minutes": "int",
    "escalation_email": "email",
    "escalation_name": "text",
    "op": "choice:save|reset",
}
ANSWER_FORM = {
    "note": "text",
    "reason": "text",
    "due_at": "datetime",
    "terms": "text",
    "view": "choice:inbox|commitment",
}
PROMISE_FORM = {
    "name": "text",
    "covers": "text",
    "lead": "int",
    "lead_unit": "choice:days|hours",
    "max_amount": "decimal",
    "max_quantity": "int",
    "active": "bool",
}

INSIGHTS_QUERY = {"from": "date", "to": "date", "department": "department"}

INBOX_QUERY = {
    "sort": "choice:due|newest",
    "per": "page_size",
    **{
        f"{s}_{way}": "cursor"
        for s in ("waiting", "settle", "accepted")
        for way in ("after", "before")
    },
}

API_PAGE = {"cursor": "cursor", "limit": "page_size"}
WEBHOOK_FORM = {
    "url": "choice:https://crm.example.com/hooks|http://127.0.0.1:9/x|ftp://x",
    "description": "text",
    "events": "choice:commitment.created|handoff.answered|nothing.such",
}
SPECS: dict[str, Spec] = {
    "static": Spec(path={"filename": "filename"}),
    "favicon": Spec(),
    "accounts.login": Spec(
        query={"next": "next"},
        form={
            "email": "email",
            "password": "password",
            "remember": "bool",
            "time_zone": "zone",
            "next": "next",
        },
    ),
    "accounts.logout": Spec(),
    "accounts.me": Spec(),
    "accounts.reminders": Spec(form={"digest_mode": "choice:immediate|morning"}),
    "accounts.time_zone": Spec(form={"time_zone": "choice:UTC|Europe/Berlin|Asia/Tokyo"}),
    "accounts.away_page": Spec(),
    "accounts.mark_away": Spec(
        form={
            "person_id": "person",
            "first_day": "date",
            "last_day": "date",
            "delegate_id": "person",
            "note": "text",
        }
    ),
    "accounts.end_away": Spec(path={"absence_id": "absence"}),
    "accounts.create_token": Spec(
        form={"name": "text", "scope": "choice:read|write", "days": "choice:30|90|365|"}
    ),
    "accounts.revoke_token": Spec(path={"token_id": "api_token"}),
    "accounts.password": Spec(
        form={"current": "password", "new": "password", "repeat": "password"}
    ),
    "admin.index": Spec(),
    "admin.departments": Spec(),
    "admin.new_department": Spec(form={"name": "text", "description": "text"}),
    "admin.department": Spec(
        path={"department_id": "department"}, form={"name": "text", "description": "text"}
    ),
    "admin.add_member": Spec(
        path={"department_id": "department"},
        form={"person_id": "person", "role": "choice:member|lead"},
    ),
    "admin.change_role": Spec(
        path={"membership_id": "membership"}, form={"role": "choice:member|lead"}
    ),
    "admin.remove_member": Spec(path={"membership_id": "membership"}),
    "admin.people": Spec(),
    "admin.new_person": Spec(form=PERSON_FORM),
    "admin.person": Spec(path={"person_id": "person"}, form=PERSON_FORM),
    "admin.people_import_form": Spec(),
    "admin.people_preview": Spec(form={"people": "text"}),
    "admin.people_import": Spec(form={"rows": "text"}),
    "board.export": Spec(
        query={
            "from": "date",
            "to": "date",
            "mine": "bool",
            "department": "department",
            "customer": "customer",
        }
    ),
    "board.index": Spec(
        query={
            "show": "choice:waiting|at_risk|overdue|due_today",
            "mine": "bool",
            "department": "department",
            "customer": "customer",
            "sort": "choice:urgency|due|customer|department|newest",
            "per": "page_size",
            "after": "cursor",
            "before": "cursor",
        }
    ),
    "commitments.new": Spec(query={"customer": "customer"}, form=COMMITMENT_FORM),
    "commitments.check_route": Spec(form=COMMITMENT_FORM),
    "commitments.show": Spec(path={"reference": "reference"}),
    "commitments.summary": Spec(path={"reference": "reference"}),
    "commitments.tell": Spec(path={"reference": "reference"}),
    "commitments.timeline": Spec(path={"reference": "reference"}),
    "commitments.comment": Spec(path={"reference": "reference"}, form={"body": "text"}),
    "commitments.feedback": Spec(
        path={"reference": "reference"}, form={"score": "choice:1|2|3|4|5", "comment": "text"}
    ),
    "commitments.edit": Spec(
        path={"reference": "reference"},
        form={"title": "text", "details": "text", "promised_at": "datetime"},
    ),
    "commitments.cancel": Spec(path={"reference": "reference"}, form={"reason": "text"}),
    "commitments.add_step": Spec(
        path={"reference": "reference"},
        form={"department_id": "department", "ask": "text", "due_at": "datetime"},
    ),
    "commitments.answer": Spec(
        path={"handoff_id": "handoff", "action": "action"}, form=ANSWER_FORM
    ),
    "customers.search": Spec(query={"customer_query": "text"}),
    "inbox.mine": Spec(query={"department": "department"}),
    "inbox.show": Spec(path={"department_id": "department"}, query=INBOX_QUERY),
    "inbox.section": Spec(
        path={"department_id": "department", "section": "section"}, query=INBOX_QUERY
    ),
    "inbox.counts": Spec(path={"department_id": "department"}),
    "lookup.index": Spec(
        query={"q": "lookup", "per": "page_size", "after": "cursor", "before": "cursor"}
    ),
    "nagging.act": Spec(
        path={"token": "token"},
        query={"do": "action"},
        form={**ANSWER_FORM, "action": "action"},
    ),
    "nagging_admin.outbox": Spec(
        query={
            "status": "choice:pending|sending|sent|failed|withdrawn",
            "q": "lookup",
            "per": "page_size",
            "after": "cursor",
            "before": "cursor",
        }
    ),
    "nagging_admin.message": Spec(path={"message_id": "message"}),
    "nagging_admin.message_html": Spec(path={"message_id": "message"}),
    "nagging_admin.retry_message": Spec(
        path={"message_id": "message"}, form={"back": "choice:failed"}
    ),
    "nagging_admin.policies": Spec(),
    "nagging_admin.replies": Spec(
        query={"after": "cursor", "before": "cursor", "per": "page_size"}
    ),
    "nagging_admin.policy": Spec(path={"department_id": "department"}, form=POLICY_FORM),
    "insights.index": Spec(query=INSIGHTS_QUERY),
    "insights.departments_csv": Spec(query=INSIGHTS_QUERY),
    "insights.weeks_csv": Spec(query=INSIGHTS_QUERY),
    "insights.pairs_csv": Spec(query=INSIGHTS_QUERY),
    "insights.commitments": Spec(
        query={**INSIGHTS_QUERY, "owner": "department", "shown": "department"}
    ),
    "insights.standing_promises": Spec(query=INSIGHTS_QUERY),
    "insights.targets": Spec(
        path={"department_id": "department"}, form={"in_window": "int", "on_time": "int"}
    ),
    "nagging_admin.holidays_preview": Spec(
        path={"department_id": "department"}, form={"calendar": "text"}
    ),
    "nagging_admin.import_holidays": Spec(
        path={"department_id": "department"}, form={"days": "days"}
    ),
    "ownership.told": Spec(
        path={"task_id": "task"}, form={"note": "text", "view": "choice:inbox|commitment"}
    ),
    "ownership.settings": Spec(form={"owner_moves": "bool", "tell_customer_minutes": "int"}),
    "promises.catalogue": Spec(
        path={"department_id": "department"},
        query={
            "edit": "promise",
            "name": "text",
            "covers": "text",
            "lead": "int",
            "lead_unit": "choice:days|hours|weeks",
        },
    ),
    "promises.save": Spec(
        path={"department_id": "department", "promise_id": "promise"}, form=PROMISE_FORM
    ),
    "promises.on_duty": Spec(path={"department_id": "department"}, form={"person_id": "person"}),
    # The API (a bearer token, JSON): fuzzed from its own document by tests/test_api_schema.py;
    # here as a browser reaches it, with a session cookie and forms, which it refuses.
    "api.openapi": Spec(),
    "api.me": Spec(),
    "api.departments": Spec(),
    "api.inbox": Spec(path={"department_id": "department"}, query=API_PAGE),
    "api.list_commitments": Spec(
        query={"customer": "customer", "department": "department", **API_PAGE}
    ),
    "api.create_commitment": Spec(form={"title": "text", "promised_by": "department"}),
    "api.read_commitment": Spec(path={"reference": "reference"}),
    "api.mark_customer_told": Spec(path={"reference": "reference"}, form={"note": "text"}),
    **{
        "api.answer_" + name.replace("-", "_"): Spec(
            path={"handoff_id": "handoff"}, form={"note": "text", "reason": "text"}
        )
        for name, answer in ANSWERS.items()
        if answer.by_mail
    },
    "webhooks.index": Spec(),
    "webhooks.register": Spec(form=WEBHOOK_FORM),
    "webhooks.show": Spec(
        path={"webhook_id": "webhook"}, query={"after": "cursor", "per": "page_size"}
    ),
    "webhooks.change": Spec(path={"webhook_id": "webhook"}, form=WEBHOOK_FORM),
    "webhooks.pause": Spec(path={"webhook_id": "webhook"}),
    "webhooks.resume": Spec(path={"webhook_id": "webhook"}),
    "webhooks.roll_secret": Spec(path={"webhook_id": "webhook"}),
    "webhooks.remove": Spec(path={"webhook_id": "webhook"}),
    "webhooks.resend": Spec(path={"webhook_id": "webhook", "delivery_id": "delivery"}),
    "observability.health": Spec(),
    "observability.health_web": Spec(),
    "observability.metrics": Spec(),
}


def _rules():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    return list(app.url_map.iter_rules())


RULES = _rules()


def unspecified(rules) -> list[str]:
    """What the specs miss: routes without one, URL parts without a kind, specs of no route."""
    problems = [
        f"no fuzz spec for {r.endpoint} ({r.rule})" for r in rules if r.endpoint not in SPECS
    ]
    for rule in rules:
        spec = SPECS.get(rule.endpoint)
        if spec and set(rule.arguments) - spec.path.keys():
            problems.append(f"{rule.rule}: no kind for {set(rule.arguments) - spec.path.keys()}")
    endpoints = {r.endpoint for r in rules}
    problems += [f"a spec for {e}, which is no route" for e in SPECS.keys() - endpoints]
    return problems


def test_every_route_has_a_fuzz_spec_and_every_spec_a_route():
    assert unspecified(RULES) == []


def test_a_route_added_without_a_fuzz_spec_is_reported():
    app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
    app.add_url_rule("/export/<int:year>", "reports.export", lambda year: "")
    assert unspecified(list(app.url_map.iter_rules())) == [
        "no fuzz spec for reports.export (/export/<int:year>)"
    ]


# --- values ---------------------------------------------------------------------------------

HOSTILE_TEXT = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\r\n",
    "line\nbreak",
    "\t\x0b\x0c\x1b[31m",
    "\u202eevil",
    "\ufeff",
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "' OR '1'='1' --",
    "'; DROP TABLE person; --",
    "%",
    "_",
    "%_\\",
    "\\",
    "C-²",
    "C-١٢٣",
    "C-\U0001d7d9\U0001d7d8\U0001d7d8\U0001d7d9",  # double-struck digits
    "²³",
    "Ärger",
    "ärger",
    "ǅ",
    "ß",
    "İ",
    "ﷺ",
    "😀" * 50,
    "x" * 5000,
    "a_" * 3000,
    "%" * 3000,
    "../../../etc/passwd",
    "javascript:alert(1)",
    "//evil.example",
    "/\\evil.example",
    "null",
    "[]",
    "{}",
    "true",
]
HOSTILE_NUMBERS = [
    "0",
    "-1",
    "-0",
    "1.5",
    "1e30",
    "1e-30",
    "Infinity",
    "-Infinity",
    "NaN",
    str(2**31 - 1),
    str(2**31),
    str(2**63),
    str(-(2**63) - 1),
    "9" * 40,
    "0x10",
    "٣",
    "²",
    " 7 ",
    "1_000",
]
HOSTILE_TIMES = [
    "2026-03-29T02:30",  # Berlin's spring-forward gap
    "2026-10-25T02:30",  # Berlin's autumn repeat
    "2026-03-08T02:30",  # the US gap
    "0001-01-01T00:00",
    "9999-12-31T23:59",
    "2026-02-30T10:00",
    "2026-12-03T25:00",
    "2026-12-03",
    "2026-12-03T10:00:00+05:00",
    "yesterday",
]

hostile_text = st.one_of(
    st.sampled_from(HOSTILE_TEXT),
    st.text(max_size=40),
    st.text(min_size=200, max_size=600),
)


def _valid(kind: str, world: dict) -> st.SearchStrategy:
    """What a real page sends for a field of this kind."""
    if kind.startswith("choice:"):
        return st.sampled_from(kind.removeprefix("choice:").split("|"))
    ids = world.get(kind)
    if ids is not None:  # (an id that no longer exists, for the plain kinds)
        gone = (
            ["99999"]
            if kind
            in ("department", "person", "handoff", "task", "customer", "absence", "api_token")
            or kind in ("webhook", "delivery")
            else []
        )
        return st.sampled_from([str(i) for i in ids] + gone)
    now = world["now"]
    return {
        "text": st.sampled_from(["Router installed", "No technician free", "Mornings only"]),
        "lookup": st.sampled_from(world["lookups"]),
        "int": st.integers(-5, 500).map(str),
        "decimal": st.decimals(0, 10**6, places=2, allow_nan=False).map(str),
        "datetime": st.integers(-6, 24 * 40).map(
            lambda h: (now + timedelta(hours=h)).strftime("%Y-%m-%dT%H:%M")
        ),
        "date": st.integers(-3, 400).map(lambda d: (now + timedelta(days=d)).date().isoformat()),
        "days": st.lists(st.integers(-3, 900), min_size=1, max_size=5).map(
            lambda ds: ",".join((now + timedelta(days=d)).date().isoformat() for d in ds)
        ),
        "time": st.sampled_from(["08:00", "17:00", "00:00", "23:59"]),
        "bool": st.sampled_from(["y", "on", "1", ""]),
        "email": st.sampled_from(world["emails"] + ["new.person@example.com"]),
        "password": st.sampled_from([PASSWORD, "a new long password"]),
        "zone": st.sampled_from(["Europe/Berlin", "America/Chicago", "Asia/Kolkata", "UTC"]),
        "weekdays": st.integers(0, 6).map(str),
        "next": st.sampled_from(["/", "/lookup?q=ab", "/inbox"]),
        "filename": st.sampled_from(["app.css", "app.js", "vendor/htmx-2.0.11.min.js"]),
        "reference": st.sampled_from(world["references"]),
        "token": st.sampled_from(world["tokens"]),
        "action": st.sampled_from(sorted(ANSWERS)),
        "cursor": st.sampled_from(world["cursors"]),
        "page_size": st.sampled_from(["10", "25", "50", "100", "7", "1000000"]),
        "section": st.sampled_from(["waiting", "settle", "countered", "accepted", "tell"]),
    }[kind]


def _hostile(kind: str) -> st.SearchStrategy:
    if kind in ("int", "decimal", "weekdays") or kind in ID_KINDS:
        return st.one_of(st.sampled_from(HOSTILE_NUMBERS), hostile_text)
    if kind in ("datetime", "time", "date", "days"):
        return st.one_of(st.sampled_from(HOSTILE_TIMES + HOSTILE_DAYS), hostile_text)
    return hostile_text


HOSTILE_DAYS = ["2026-02-30", "0001-01-01", "9999-12-31", "1970-01-01", "2026-13-01", "06.12.2026"]
ID_KINDS = {"department", "person", "membership", "handoff", "task", "message", "promise"}
ID_KINDS |= {"absence", "api_token", "webhook", "delivery"}
ID_KINDS |= {"customer", "own_department", "route_department_0", "route_department_1"}
ID_KINDS |= {"step_promise"}


def value(kind: str, world: dict) -> st.SearchStrategy:
    return st.one_of(_valid(kind, world), _hostile(kind))


@st.composite
def path_part(draw, kind: str, world: dict) -> str:
    """A URL part: mostly one that exists (so that the request gets past the router and the
    loader), else hostile."""
    valid = draw(st.integers(0, 5)) > 0
    text = draw(_valid(kind, world) if valid else _hostile(kind))
    return quote(text, safe="") or "x"


@st.composite
def fields(draw, spec: dict[str, str], world: dict) -> MultiDict:
    """Form fields or query arguments. Wild: each left out, given once or repeated, valid or
    hostile. Or what a page would send with one field gone wrong (the way deep into the
    code), or exactly what a page would send."""
    mode = draw(st.sampled_from(["wild", "one_wrong", "one_wrong", "as_a_page"]))
    data = MultiDict()
    names = list(spec)
    wrong = draw(st.sampled_from(names)) if names else None
    for name, kind in spec.items():
        if mode == "wild":
            for _ in range(draw(st.sampled_from([0, 1, 1, 1, 2]))):
                data.add(name, draw(value(kind, world)))
        elif name == wrong and mode == "one_wrong":
            how = draw(st.sampled_from(["hostile", "hostile", "hostile", "missing", "twice"]))
            if how == "hostile":
                data.add(name, draw(_hostile(kind)))
            elif how == "twice":
                data.add(name, draw(value(kind, world)))
                data.add(name, draw(value(kind, world)))
        else:
            data.add(name, draw(_valid(kind, world)))
    if draw(st.booleans()) and draw(st.booleans()):
        data.add(draw(st.sampled_from(HOSTILE_NAMES)), draw(st.sampled_from(["1", "x", ""])))
    return data


def _calendar(*lines: str) -> bytes:
    return "\r\n".join(["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//x//EN", *lines]).encode()


_EVENT = ["BEGIN:VEVENT", "UID:1", "SUMMARY:Closed"]
# Calendar files an admin might upload: real ones, and broken or hostile ones.
CALENDARS = [
    _calendar(*_EVENT, "DTSTART;VALUE=DATE:20270104", "END:VEVENT", "END:VCALENDAR"),
    _calendar(
        *_EVENT, "DTSTART;VALUE=DATE:20270101", "RRULE:FREQ=YEARLY", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(
        *_EVENT, "DTSTART;VALUE=DATE:20270101", "RRULE:FREQ=DAILY", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(
        *_EVENT, "DTSTART:20270104T090000Z", "DTEND:20270104T100000Z", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(
        *_EVENT, "DTSTART;VALUE=DATE:00010101", "RRULE:FREQ=YEARLY", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(*_EVENT, "DTSTART;VALUE=DATE:99991231", "END:VEVENT", "END:VCALENDAR"),
    _calendar(*_EVENT, "DTSTART;VALUE=DATE:2027XX01", "END:VEVENT", "END:VCALENDAR"),
    _calendar(
        *_EVENT,
        "DTSTART;VALUE=DATE:20270104",
        "DTEND;VALUE=DATE:20260104",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(*_EVENT, "DTSTART;TZID=Nowhere/City:20270104T090000", "END:VEVENT", "END:VCALENDAR"),
    _calendar(
        *_EVENT, "DTSTART;VALUE=DATE:20270104", "RRULE:FREQ=SECONDLY", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(*_EVENT, "DTSTART;VALUE=DATE:20270104", "END:VEVENT"),  # never ends
    _calendar("BEGIN:VEVENT", "END:VCALENDAR"),
    _calendar(
        *_EVENT, "DTSTART;VALUE=DATE:20270104", "RRULE:FREQ=BOGUS", "END:VEVENT", "END:VCALENDAR"
    ),
    _calendar(
        *_EVENT,
        "DTSTART;VALUE=DATE:20270104",
        "RRULE:FREQ=WEEKLY;BYDAY=XX",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(
        *_EVENT,
        "DTSTART;VALUE=DATE:20270104",
        "RRULE:FREQ=DAILY;UNTIL=abc",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(
        *_EVENT,
        "DTSTART;VALUE=DATE:20270104",
        "RRULE:FREQ=DAILY;INTERVAL=0",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(
        "X-WR-TIMEZONE:Nowhere/City",
        *_EVENT,
        "DTSTART;VALUE=DATE:20270104",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(
        "BEGIN:VEVENT",
        "UID:2",
        "BEGIN:VEVENT",
        "UID:3",
        "END:VEVENT",
        "END:VEVENT",
        "END:VCALENDAR",
    ),
    _calendar(
        *[
            line
            for i in range(300)
            for line in (
                "BEGIN:VEVENT",
                f"UID:{i}",
                "DTSTART;VALUE=DATE:20270104",
                "RRULE:FREQ=WEEKLY",
                "END:VEVENT",
            )
        ],
        "END:VCALENDAR",
    ),
    b"\xff\xfe" + "BEGIN:VCALENDAR".encode("utf-16-le"),
    b"BEGIN:VCALENDAR\r\n" + b"X-LONG:" + b"a" * 5000 + b"\r\nEND:VCALENDAR",
]


# Field names no page sends: unknown ones, and numbered rows with odd numbers.
HOSTILE_NAMES = [
    "extra",
    "csrf_token",
    "id",
    "__proto__",
    "route-²-ask",
    "route-\u0661-department_id",
    "route-99999999999999999999-ask",
    "route--ask",
    "route-0",
    "route-0-due_at-x",
    "work_days-0",
    "",
    "\u202e",
]


HTMX_HEADERS = [
    {},
    {"HX-Request": "true"},
    {"HX-Request": "true", "HX-Boosted": "true"},
    {"HX-Request": "true", "HX-History-Restore-Request": "true"},
    {"HX-Request": "true", "HX-Target": "<script>", "HX-Current-URL": "javascript:alert(1)"},
]
PERSONAS = ["anonymous", "admin", "ana", "ben", "dev"]


@st.composite
def requests(draw, endpoint: str, world: dict):
    """One request to one of the endpoint's rules, as drawn."""
    persona = draw(st.sampled_from(PERSONAS))
    world = {**world, "own_department": world["own"][persona]}  # what the persona's form offers
    rule = draw(st.sampled_from([r for r in RULES if r.endpoint == endpoint]))
    spec = SPECS[endpoint]
    path = rule.rule
    for name in rule.arguments:
        part = draw(path_part(spec.path[name], world))
        path = re.sub(rf"<(?:[a-z]+:)?{name}>", part, path)
    methods = sorted(rule.methods - {"HEAD", "OPTIONS"})
    method = draw(
        st.sampled_from([*methods, "DELETE"])
        if draw(st.integers(0, 9)) == 0
        else st.sampled_from(methods)
    )
    query = draw(fields(spec.query, world)) if spec.query else MultiDict()
    body_kind = draw(st.sampled_from(["form"] * 8 + ["json", "raw", "file"]))
    body = {}
    if method == "POST":
        if body_kind == "form":
            body = {"data": draw(fields(spec.form, world))}
        elif body_kind == "file":  # a field sent as a file upload
            data = draw(fields(spec.form, world))
            name = draw(st.sampled_from([*spec.form, "upload"]))
            data[name] = (io.BytesIO(draw(st.binary(max_size=200))), "x.txt")
            if name == "calendar" and draw(st.booleans()):  # a calendar, or nearly one
                data[name] = (io.BytesIO(draw(st.sampled_from(CALENDARS))), "holidays.ics")
            body = {"data": data, "content_type": "multipart/form-data"}
        elif body_kind == "json":
            body = {
                "data": json.dumps({k: draw(value(v, world)) for k, v in spec.form.items()}),
                "content_type": "application/json",
            }
        else:
            body = {
                "data": draw(st.binary(max_size=300)),
                "content_type": draw(
                    st.sampled_from(
                        ["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]
                    )
                ),
            }
    return {
        "persona": persona,
        "path": path,
        "method": method,
        "query_string": query,
        "headers": draw(st.sampled_from(HTMX_HEADERS)),
        **body,
    }


# --- the world the requests land in ----------------------------------------------------------


@pytest.fixture
def world(org, make, app, now):
    """A small organisation with something in every state, and the ids a page would send."""
    set_policy(always_open=True, ack_window_minutes=5)
    at = now - timedelta(hours=3)
    route = [org.installation, org.billing]
    pending = make.commitment(by=org.ana, owner=org.sales, route=route, at=at)
    accepted = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=at)
    countered = make.commitment(by=org.ana, owner=org.sales, route=[org.installation], at=at)
    declined = make.commitment(by=org.ana, owner=org.sales, route=[org.billing], at=at)
    with writes():
        services.accept(accepted.handoffs[0], org.ben, at, "Booked")
        services.counter(countered.handoffs[0], org.ivo, at, due_at=None, terms="Mornings")
        services.decline(declined.handoffs[0], org.dev, at, "No budget")
        promise_services.save_promise(
            org.installation,
            org.ben,
            at,
            promise=None,
            name="Standard install",
            covers="One site",
            lead_minutes=3 * 9 * 60,
            max_amount=None,
            max_quantity=5,
        )
    with writes():  # Ivo away from tomorrow, Dev answering for him
        tomorrow = (now + timedelta(days=1)).date()
        away.mark_away(
            org.ivo,
            first_day=tomorrow,
            last_day=tomorrow + timedelta(days=2),
            delegate=org.dev,
            note="Holiday",
            actor=org.ivo,
            zone=ZoneInfo("Europe/Berlin"),
            now=now,
        )
    with writes():
        sweep(now)  # reminders and digests in the outbox
        db.session.add(NaggerProcess(name="nagger:1", started_at=now, last_round_at=now))
    with writes():  # an API token of Ana's and one of Ivo's, a webhook owed a delivery
        for person in (org.ana, org.ivo):
            tokens.create_token(person, name="CRM", scope="write", days=30, now=now)
        webhooks.register(org.admin, "http://127.0.0.1:9/hooks", ["handoff.answered"], "", now)
    with writes():
        services.accept(pending.handoffs[1], org.dev, now, "")
    with writes():
        message = db.session.scalars(sa.select(OutboxMessage)).first()
        message.status = "failed"
        message.last_error = "550 no such user"
    ids = {
        "department": db.session.scalars(sa.select(Department.id)).all(),
        "person": db.session.scalars(sa.select(Person.id)).all(),
        "membership": db.session.scalars(sa.select(Membership.id)).all(),
        "handoff": db.session.scalars(sa.select(Handoff.id)).all(),
        "task": db.session.scalars(sa.select(CustomerTask.id)).all(),
        "message": db.session.scalars(sa.select(OutboxMessage.id)).all(),
        "promise": db.session.scalars(sa.select(StandingPromise.id)).all(),
        "customer": db.session.scalars(sa.select(Customer.id)).all(),
        "absence": db.session.scalars(sa.select(Absence.id)).all(),
        "api_token": db.session.scalars(sa.select(ApiToken.id)).all(),
        "webhook": db.session.scalars(sa.select(Webhook.id)).all(),
        "delivery": db.session.scalars(sa.select(WebhookDelivery.id)).all(),
    }
    assert all(ids.values()), ids
    commitments = (pending, accepted, countered, declined)
    ids["commitment_ids"] = [c.id for c in commitments]
    customer = db.session.get(Customer, ids["customer"][0])
    return {
        **ids,
        "route_department_0": [org.installation.id],
        "route_department_1": [org.billing.id],
        "step_promise": ["", *ids["promise"]],
        "own": {
            "anonymous": [org.sales.id],
            "admin": ids["department"],
            "ana": [org.sales.id],
            "ben": [org.installation.id],
            "dev": [org.billing.id],
        },
        "now": now,
        "people": {"admin": org.admin, "ana": org.ana, "ben": org.ben, "dev": org.dev},
        "references": [c.reference for c in commitments],
        "tokens": [
            make_token(pending.handoffs[0], org.ivo.id),
            make_token(countered.handoffs[0], org.ana.id),
        ],
        "emails": [org.ana.email, org.ben.email, "nobody@example.com"],
        "lookups": [customer.name[:4], customer.email, commitments[0].reference, "C-1"],
        "cursors": [  # keys of every list's shapes, forwards and back
            Cursor(key, backwards).encode()
            for key in [(0, now, 1), (3, now, 2), (now, 1), (9, now, 1), ("Ana", 2), (2**31,)]
            for backwards in (False, True)
        ]
        + [
            Cursor(key, backwards).encode()
            for key in [("Billing", now, 1), (1,), (-1,), (now, "x"), ()]
            for backwards in (False, True)
        ]
        + [  # moments that are no moment in UTC
            Cursor((moment, 1)).encode()
            for moment in (
                datetime.fromisoformat("0001-01-01T00:00+23:59"),
                datetime.fromisoformat("9999-12-31T23:59-23:59"),
            )
        ],
    }


def fingerprint() -> dict[str, str]:
    """Every table's rows, hashed: two equal fingerprints mean nothing was changed."""
    db.session.rollback()
    prints = {}
    with db.engine.connect() as connection:
        for table in db.metadata.sorted_tables:
            if table.name in CHANGED_BY_REFUSALS:
                continue
            rows = connection.execute(sa.select(table).order_by(*table.primary_key.columns))
            prints[table.name] = hashlib.sha256(repr(rows.all()).encode()).hexdigest()
    return prints


def changed_tables(before: dict, after: dict) -> list[str]:
    return sorted(name for name in before if before[name] != after[name])


def fuzz(endpoint: str, world: dict, web_app, sign_in, examples: int = EXAMPLES) -> None:
    """Send `examples` drawn requests to the endpoint; fail on a 5xx, or on a 4xx after
    which the database is not as it was."""

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=not RANDOM,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(request=requests(endpoint, world))
    def check(request):
        request = dict(request)
        persona = request.pop("persona")
        client = web_app.test_client()
        if persona != "anonymous":
            sign_in(client, world["people"][persona])
        before = fingerprint()
        response = client.open(**request)
        status = response.status_code
        response.get_data()
        response.close()
        shown = f"{request['method']} {request['path']} as {persona}: {status}"
        if REPORT:
            with open(REPORT, "a") as report:
                report.write(f"{endpoint} {request['method']} {persona} {status}\n")
                if os.environ.get("HANDOFF_FUZZ_REPORT_BODIES"):
                    text = response.get_data(as_text=True)
                    found = re.findall(
                        r'<(?:p|li) class="[^"]*(?:problem|error)[^"]*"[^>]*>([^<]+)', text
                    )
                    found += re.findall(r'<ul class="errors"[^>]*><li>([^<]+)', text)
                    found += re.findall(r"<h1>([^<]+)</h1>\s*<p>([^<]+)", text)
                    report.write(f"    {found[:3]} {request.get('data')!r:.300}\n")
        assert status < 500, shown
        if 400 <= status < 500:
            assert changed_tables(before, fingerprint()) == [], shown

    check()


@pytest.mark.parametrize("endpoint", sorted(SPECS))
def test_hostile_requests_never_get_a_500_and_a_refusal_changes_nothing(
    endpoint, world, web_app, sign_in
):
    fuzz(endpoint, world, web_app, sign_in)


# --- the checker finds what it is for ---------------------------------------------------------


def test_the_fuzzer_finds_a_500_that_only_some_text_causes(world, web_app, sign_in, monkeypatch):
    from handoff.lookup import routes

    original = routes.find_commitments

    def fragile(query, *args):
        if any(not c.isascii() for c in query):
            raise ValueError("a planted fault")
        return original(query, *args)

    monkeypatch.setattr(routes, "find_commitments", fragile)
    web_app.config["PROPAGATE_EXCEPTIONS"] = False  # a real server answers 500
    with pytest.raises(AssertionError, match=r"GET /lookup.*: 500"):
        fuzz("lookup.index", world, web_app, sign_in, examples=200)


def test_the_fuzzer_finds_a_refusal_that_saved_half(world, web_app, sign_in, monkeypatch):
    from handoff.commitments.forms import CommentForm
    from handoff.commitments.models import Comment

    original = CommentForm.validate

    def saves_then_refuses(self, extra_validators=None):
        if original(self, extra_validators):
            return True
        db.session.add(
            Comment(
                commitment_id=world["commitment_ids"][0],
                author_id=world["person"][0],
                body="half",
                created_at=world["now"],
            )
        )
        db.session.commit()  # a planted fault: written, then refused
        return False

    monkeypatch.setattr(CommentForm, "validate", saves_then_refuses)
    with pytest.raises(AssertionError, match=r"POST /commitments/.*/comments.*: 4\d\d"):
        fuzz("commitments.comment", world, web_app, sign_in, examples=200)
