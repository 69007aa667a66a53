"""Keyset paging for every long list: a page continues from the sort key of the row next to
it, so the thousandth page costs what the first does, and rows added meanwhile neither
repeat nor vanish. Page size and position live in the URL (`per`, `after`, `before`).

A cursor is the sort key of a row, written into the URL as URL-safe base64 of JSON. One that
does not read as a key of the list (edited, cut short, from another list) is no cursor: the
list starts again from its first page.
"""

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select, tuple_

from handoff.kernel.db import MAX_INT, db

PAGE_SIZES = (10, 25, 50, 100)
DEFAULT_PAGE_SIZE = 25
MAX_CURSOR = 600  # characters: a key is a few values, never a text to store


def page_size(value, default: int = DEFAULT_PAGE_SIZE) -> int:
    """The page size a URL asks for, if it is one offered; otherwise the default."""
    try:
        size = int(str(value))
    except ValueError:
        return default
    return size if size in PAGE_SIZES else default


@dataclass(frozen=True)
class Cursor:
    """Where a page starts: after the row with this key (or, going back, before it)."""

    key: tuple
    backwards: bool = False

    def encode(self) -> str:
        values = [["t", v.isoformat()] if isinstance(v, datetime) else v for v in self.key]
        raw = json.dumps(values, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def read(cls, text: str | None, shape: Sequence[type], backwards: bool = False):
        """The cursor `text` encodes if its key has this shape (a type per value), else None."""
        if not text or len(text) > MAX_CURSOR:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            values = json.loads(raw)
        except (binascii.Error, ValueError, UnicodeDecodeError):
            return None
        if not isinstance(values, list) or len(values) != len(shape):
            return None
        key = []
        for value, kind in zip(values, shape, strict=True):
            value = _value(value, kind)
            if value is None:
                return None
            key.append(value)
        return cls(tuple(key), backwards)


def _value(value, kind):
    """One value of a key as its type, or None if it is not one."""
    if kind is datetime:
        if not (isinstance(value, list) and len(value) == 2 and value[0] == "t"):
            return None
        try:
            moment = datetime.fromisoformat(str(value[1]))
            # a moment stored as UTC: one that has none ("0001-01-01T00:00+23:59") is none
            moment.astimezone(UTC)
        except (ValueError, OverflowError):
            return None
        return moment if moment.tzinfo is not None else None
    if kind is int:
        ok = isinstance(value, int) and not isinstance(value, bool) and -MAX_INT <= value <= MAX_INT
        return value if ok else None
    if kind is str:
        return value if isinstance(value, str) and "\x00" not in value else None
    return None


@dataclass
class Page:
    """One page of a list, and the cursors to the pages beside it (None: there is none)."""

    rows: list
    after: str | None = None
    before: str | None = None


def keyset_page(
    query: Select,
    keys: Sequence,
    key_of: Callable[[object], tuple],
    cursor: Cursor | None,
    per: int,
    descending: bool = False,
    as_rows: bool = False,
) -> Page:
    """A page of `query` in the order of `keys` (all ascending, or all `descending`), from
    `cursor`: `per` rows, with cursors to the next and the previous page."""
    rows, more = fetch_after(query, keys, cursor, per, descending, as_rows=as_rows)
    return page_of(rows, more, key_of, cursor)


def fetch_after(
    query: Select,
    keys: Sequence,
    cursor: Cursor | None,
    limit: int,
    descending: bool = False,
    backwards: bool | None = None,
    as_rows: bool = False,
    params: dict | None = None,
):
    """Up to `limit` rows of `query` after the cursor's key (before it, going back; from the
    end, going back without a key), in page order; and whether there are more beyond them.
    The rows are entities, or rows of columns `as_rows` (an id and its sort key, say)."""
    query = reading_after(query, keys, cursor, limit, descending, backwards)
    found = (
        db.session.execute(query, params) if as_rows else db.session.scalars(query, params).unique()
    )
    return in_page_order(list(found), limit, cursor, backwards)


def reading_after(
    query: Select,
    keys: Sequence,
    cursor: Cursor | None,
    limit: int,
    descending: bool = False,
    backwards: bool | None = None,
) -> Select:
    """`query` reading up to `limit` + 1 rows from the cursor's key on, in the direction it
    reads them (fetch_after; several lists at once run them as one union)."""
    if backwards is None:
        backwards = bool(cursor and cursor.backwards)
    downwards = descending != backwards  # the direction the rows are read in
    if cursor is not None:
        row_key, given = tuple_(*keys), tuple_(*cursor.key)
        query = query.where(row_key < given if downwards else row_key > given)
    order = [k.desc() for k in keys] if downwards else [k.asc() for k in keys]
    return query.order_by(*order).limit(limit + 1)


def in_page_order(rows: list, limit: int, cursor: Cursor | None, backwards: bool | None = None):
    """The rows read by reading_after, as a page shows them, and whether there are more."""
    if backwards is None:
        backwards = bool(cursor and cursor.backwards)
    more = len(rows) > limit
    rows = rows[:limit]
    if backwards:
        rows.reverse()
    return rows, more


def page_of(rows: list, more: bool, key_of, cursor: Cursor | None) -> Page:
    """The page these rows make: cursors to the next and previous pages where they exist."""
    page = Page(rows)
    if not rows:
        return page
    backwards = bool(cursor and cursor.backwards)
    has_next = cursor is not None if backwards else more
    has_previous = more if backwards else cursor is not None
    if has_next:
        page.after = Cursor(key_of(rows[-1])).encode()
    if has_previous:
        page.before = Cursor(key_of(rows[0]), backwards=True).encode()
    return page


def count_statement(query: Select, cap: int) -> Select:
    """How many rows `query` has, counting no further than `cap` + 1 (for count_up_to)."""
    limited = query.with_only_columns(*query.selected_columns[:1]).limit(cap + 1).subquery()
    return select(func.count()).select_from(limited)


def count_up_to(counting: Select, cap: int, params: dict | None = None) -> tuple[int, bool]:
    """Run a count_statement made with `cap`: (count, whether capped). A long list says
    "10,000+" rather than counting a million rows on every refresh."""
    found = db.session.scalar(counting, params)
    return min(found, cap), found > cap
