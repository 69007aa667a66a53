"""A department's inbox in sections, each one page at a time from an index, and their counts
in one query: what a department must answer, settle and deliver, however much piles up."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, func, select

from handoff.commitments.lifecycle import State
from handoff.commitments.models import Handoff
from handoff.kernel.db import db
from handoff.kernel.paging import Cursor, Page, keyset_page

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


def _where(section: str, department_id: int):
    """The conditions of a section's handoffs, each an index range."""
    own = Handoff.department_id == department_id
    if section == "waiting":
        return [own, Handoff.state == State.PENDING]
    if section == "countered":
        return [own, Handoff.state == State.COUNTERED]
    if section == "accepted":
        return [own, Handoff.state == State.ACCEPTED]
    # counters on this department's own promises
    return [Handoff.owner_department_id == department_id, Handoff.state == State.COUNTERED]


def _query(section: str, department_id: int) -> Select:
    # each row's id and sort key: what a row shows is loaded once for every section (cards)
    return select(Handoff.id, Handoff.due_at).where(*_where(section, department_id))


@dataclass
class Section:
    name: str
    page: Page
    count: int


def section_page(
    section: str, department_id: int, per: int, sort: str = "due", after=None, before=None
) -> Page:
    """One page of a section, in the chosen order, from the cursor in the URL: its rows are
    (id, due_at) pairs, for `cards` to load."""
    shape = SHAPES[sort]
    cursor = Cursor.read(after, shape) or Cursor.read(before, shape, backwards=True)
    if sort == "newest":
        return keyset_page(
            _query(section, department_id),
            (Handoff.id,),
            lambda row: (row.id,),
            cursor,
            per,
            descending=True,
            as_rows=True,
        )
    return keyset_page(
        _query(section, department_id),
        (Handoff.due_at, Handoff.id),
        lambda row: (row.due_at, row.id),
        cursor,
        per,
        as_rows=True,
    )


def section_counts(department_id: int) -> dict[str, int]:
    """How many handoffs each section holds, in one query (each count an index range)."""
    counts = [
        select(func.count()).select_from(Handoff).where(*_where(name, department_id))
        for name in SECTIONS
    ]
    counts = [count.scalar_subquery() for count in counts]
    return dict(zip(SECTIONS, db.session.execute(select(*counts)).one(), strict=True))
