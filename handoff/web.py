"""What every page shares: page-or-fragment rendering, the reader's time zone, errors."""

from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from flask import current_app, g, has_app_context, make_response, render_template
from flask_login import current_user
from werkzeug.routing import IntegerConverter
from wtforms.fields import FieldList, FormField

from handoff.extensions import htmx
from handoff.kernel import dates
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import is_valid_zone
from handoff.kernel.db import MAX_INT, commit_writes, db
from handoff.kernel.errors import InvalidInput
from handoff.kernel.urls import UrlPattern


def wants_fragment() -> bool:
    """Whether to answer with the partial alone.

    A boosted navigation or a history restore is an htmx request that needs the whole page.
    """
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render(
    page: str, fragment: str | None = None, status: int = 200, trigger: str | None = None, **context
):
    """Render the full page, or only the partial it includes for an htmx request."""
    template = fragment if fragment and wants_fragment() else page
    response = make_response(render_template(template, **context), status)
    response.vary.add("HX-Request")
    if trigger:
        response.headers["HX-Trigger"] = trigger
    return response


def render_fragment(fragment: str, status: int = 200, trigger: str | None = None, **context):
    """Render a partial that only htmx requests ask for."""
    response = make_response(render_template(fragment, **context), status)
    response.vary.add("HX-Request")
    if trigger:
        response.headers["HX-Trigger"] = trigger
    return response


def row_url(endpoint: str, **values) -> str:
    """url_for for the many rows of one page: the address of `endpoint` is built once per
    request with placeholders (kernel.urls), then each row's values are put in."""
    # (asked hundreds of times a page: the key is the names as given and the values' types)
    key = (endpoint, tuple(values), tuple(map(type, values.values())))
    patterns = vars(g._get_current_object()).setdefault("_row_urls", {})
    pattern = patterns.get(key)
    if pattern is None:
        numbers = frozenset(name for name, value in values.items() if type(value) is int)
        pattern = patterns[key] = UrlPattern(endpoint, values, numbers)
    return pattern.url(**values)


@lru_cache(maxsize=64)
def zone_named(name: str | None) -> ZoneInfo | None:
    """The time zone of this IANA name, if this machine knows it (kept: asked for every
    moment a page shows)."""
    return ZoneInfo(name) if is_valid_zone(name) else None


def reader_zone() -> ZoneInfo:
    """The time zone of the person reading the page (or the one a mail link was written for)."""
    if not has_app_context():
        return zone_named(current_app.config["DEFAULT_TIME_ZONE"])
    # (asked for every moment on a page: g is looked up once a call, the zone once a request)
    kept = vars(g._get_current_object())
    named = kept.get("reader_time_zone")
    if named and (zone := zone_named(named)):
        return zone
    zone = kept.get("_signed_in_zone")
    if zone is None:
        person = current_user.time_zone if current_user and current_user.is_authenticated else None
        zone = zone_named(person) or zone_named(current_app.config["DEFAULT_TIME_ZONE"])
        kept["_signed_in_zone"] = zone
    return zone


def to_local(value: datetime) -> datetime:
    """The moment in the reader's time zone."""
    return value.astimezone(reader_zone())


def from_local(value: datetime | None) -> datetime | None:
    """A wall-clock time typed by the reader, as an aware UTC datetime."""
    if value is None:
        return None
    return value.replace(tzinfo=reader_zone()).astimezone(UTC)


def local_input(value: datetime | None) -> datetime | None:
    """A stored moment as the naive wall-clock time a datetime-local input shows."""
    if value is None:
        return None
    return to_local(value).replace(tzinfo=None)


def format_when(value: datetime | None, now: datetime | None = None) -> str:
    """'Tue 12 May 10:00' in the reader's zone; the year only when it is not this year."""
    return dates.format_when(value, reader_zone(), now or utcnow())


def at_risk_within() -> timedelta:
    """How soon an unanswered handoff's due time makes its commitment at risk (configured)."""
    return timedelta(hours=current_app.config["AT_RISK_HOURS"])


def safe_next(target: str | None) -> str | None:
    """`target` if it stays on this site (a path, no scheme or host), else None."""
    if not target or len(target) > 2000:
        return None
    target = target.strip()
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/"):
        return None
    if target.startswith("//") or target.startswith("/\\") or "\\" in target:
        return None
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return None  # a line break would split the Location header
    return target


class DatabaseIdConverter(IntegerConverter):
    """`<int:…>` in a URL: an id the database can hold; a larger one is a 404, not an overflow."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_INT)
        super().__init__(map, *args, **kwargs)


def show_refusal(form, error: InvalidInput) -> None:
    """Put a rule's refusal beside the field it names ("ask", or "route.1.ask" for a row of
    a list of sub-forms), or above the form when it names none the form has."""
    field = None
    if error.field:  # (a form of one step takes "route.0.ask" as its own "ask")
        field = _field_at(form, error.field) or _field_at(form, error.field.rsplit(".", 1)[-1])
    if field is not None:
        field.errors = [*field.errors, str(error)]
    else:
        form.form_errors.append(str(error))


def _field_at(form, path: str):
    node = form
    for part in path.split("."):
        if isinstance(node, FieldList):
            if not part.isdigit() or int(part) >= len(node.entries):
                return None
            node = node.entries[int(part)]
            continue
        container = node.form if isinstance(node, FormField) else node
        if not hasattr(container, "_fields") or part not in container._fields:
            return None
        node = container._fields[part]
    return None if node is form else node


def attempt(form, call, *args, **kwargs) -> tuple[bool, object]:
    """Run a service call for a validated form and commit; answer (True, what it returned).
    A rule's refusal (InvalidInput) is rolled back and shown beside the field it names, or
    above the form; answer (False, None)."""
    try:
        result = call(*args, **kwargs)
    except InvalidInput as error:
        db.session.rollback()
        show_refusal(form, error)
        return False, None
    commit_writes()
    return True, result
