"""A department's inbox in sections, each one page at a time from an index, and their counts
in one query: what a department must answer, settle and deliver, however much piles up."""

from datetime import datetime
from functools import cache, lru_cache

from sqlalchemy import Integer, Select, bindparam, func, literal, select, union_all

from handoff.commitments.lifecycle import State
from handoff.commitments.models import Handoff
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor, Page, in_page_order, page_of, reading_after

# Each section: its name in URLs, its title, and what it is for.
SECTIONS = {
    "waiting": "Waiting for {department}'s answer",
    "settle": "Counters for {department} to settle",
    "countered": "{department} countered",
    "accepted": "Accepted: to deliver",
}
HINTS = {
    "waiting": "Accept, counter or decline. Soonest due first.",
    "settle": "Other departments answered {department}'s promises with what they can do.",
    "countered": "Waiting for the department that made the promise.",
    "accepted": "Mark each one done when it is done.",
}
SORTS = {"due": "Soonest due first", "newest": "Newest first"}
SHAPES = {"due": (datetime, int), "newest": (int,)}


def _where(section: str, department_id):
    """The conditions of a section's handoffs, each an index range (`department_id`: the
    department's id, or a parameter bound to it)."""
    own = Handoff.department_id == department_id
    if section == "waiting":
        return [own, Handoff.state == State.PENDING]
    if section == "countered":
        return [own, Handoff.state == State.COUNTERED]
    if section == "accepted":
        return [own, Handoff.state == State.ACCEPTED]
    # counters on this department's own promises
    return [Handoff.owner_department_id == department_id, Handoff.state == State.COUNTERED]


def _query(section: str, department_id) -> Select:
    # each row's id and sort key: what a row shows is loaded once for every section (cards)
    return select(Handoff.id, Handoff.due_at).where(*_where(section, department_id))


def section_pages(
    department_id: int, names, per: int, sort: str = "due", positions: dict | None = None
) -> dict[str, Page]:
    """A page of each of these sections, in the chosen order, each from its cursor in the URL
    (`positions`: {section: {after|before: cursor}}), in one query: a union of each
    section's index range. Its rows are (id, due_at) pairs, for the cards to load."""
    shape = SHAPES[sort]
    descending = sort == "newest"

    def key_of(row) -> tuple:
        return (row.id,) if descending else (row.due_at, row.id)

    cursors, ways, values = {}, [], {"department": department_id}
    for name in names:
        here = (positions or {}).get(name, {})
        cursor = Cursor.read(here.get("after"), shape) or Cursor.read(
            here.get("before"), shape, backwards=True
        )
        cursors[name] = cursor
        ways.append(None if cursor is None else "before" if cursor.backwards else "after")
        if cursor is not None:
            values.update({f"{name}_{i}": value for i, value in enumerate(cursor.key)})
    statement = _pages_statement(tuple(names), sort, per, tuple(ways))
    found: dict[str, list] = {name: [] for name in names}
    for row in db.session.execute(statement, values):
        found[row.section].append(row)
    pages = {}
    for name in names:
        cursor = cursors[name]
        downwards = descending != bool(cursor and cursor.backwards)
        rows = sorted(found[name], key=key_of, reverse=downwards)  # as each part read them
        rows, more = in_page_order(rows, per, cursor)
        pages[name] = page_of(rows, more, key_of, cursor)
    return pages


@lru_cache(maxsize=256)
def _pages_statement(names: tuple, sort: str, per: int, ways: tuple):
    """section_pages' statement for these sections, order, page size and directions from a
    cursor (None, "after" or "before", a section): built once for each, run with the
    department and the cursors' keys bound (building it cost more than running it)."""
    descending = sort == "newest"
    keys = (Handoff.id,) if descending else (Handoff.due_at, Handoff.id)
    department = bindparam("department", type_=Integer)
    parts = []
    for name, way in zip(names, ways, strict=True):
        cursor = None
        if way is not None:
            marks = tuple(bindparam(f"{name}_{i}", type_=key.type) for i, key in enumerate(keys))
            cursor = Cursor(marks, backwards=way == "before")
        part = reading_after(_query(name, department), keys, cursor, per, descending)
        parts.append(select(part.add_columns(literal(name).label("section")).subquery()))
    return union_all(*parts) if len(parts) > 1 else parts[0]


def section_counts(department_id: int) -> dict[str, int]:
    """How many handoffs each section holds, in one query (each count an index range)."""
    counts = db.session.execute(_counts_statement(), {"department": department_id}).one()
    return dict(zip(SECTIONS, counts, strict=True))


@cache
def _counts_statement():
    """section_counts' statement: built once, run with the department bound."""
    department = bindparam("department", type_=Integer)
    counts = [
        select(func.count()).select_from(Handoff).where(*_where(name, department))
        for name in SECTIONS
    ]
    return select(*(count.scalar_subquery() for count in counts))
