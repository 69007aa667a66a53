"""A department's inbox: what waits for its answer, what it must settle and deliver, each
section a page at a time, soonest due first."""

from urllib.parse import parse_qsl, urlsplit

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from handoff.commitments.answers import answers_by_handoff
from handoff.commitments.rows import handoff_cards
from handoff.departments.away import absences_in
from handoff.departments.models import Department
from handoff.inbox.queries import (
    HINTS,
    SECTIONS,
    SORTS,
    section_counts,
    section_pages,
)
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.kernel.paging import PAGE_SIZES, page_size
from handoff.ownership.forms import ToldForm
from handoff.ownership.services import open_tasks_count, open_tasks_of_department, tasks_view
from handoff.web import at_risk_within, format_when, render, render_fragment, row_url

bp = Blueprint("inbox", __name__)
PER_SECTION = 10  # four sections of a page each: the most urgent of each at a glance
MAX_CURSOR = 500  # a page's position in the URL is a short token; anything longer is not one
MAX_URL = 4000
TELL = "tell"  # the customers to tell: a list that pages as the sections do, in the URL


@bp.get("/inbox")
@login_required
def mine():
    """The inbox chosen (`?department=`), or the first inbox of the signed-in person."""
    chosen = request.args.get("department", type=int)
    if chosen is not None:
        return redirect(url_for("inbox.show", department_id=chosen))
    departments = current_user.acting_departments()  # (with those they answer for as delegate)
    if not departments:
        # an admin belongs to none, and may open any department's inbox: a list to choose from
        every = _every_department() if current_user.is_admin else []
        return render("inbox/none.html", "inbox/none.html", switchable=every)
    return redirect(url_for("inbox.show", department_id=departments[0].id))


def _choices() -> dict:
    """Order and page size as the URL says (the defaults otherwise)."""
    sort = request.args.get("sort", "due")
    return {
        "sort": sort if sort in SORTS else "due",
        "per": page_size(request.args.get("per", PER_SECTION), default=PER_SECTION),
    }


def _kept(choices: dict) -> dict:
    """The URL parameters that are not the defaults."""
    kept = {}
    if choices["sort"] != "due":
        kept["sort"] = choices["sort"]
    if choices["per"] != PER_SECTION:
        kept["per"] = choices["per"]
    return kept


def _positions(args=None) -> dict[str, dict]:
    """Where in each section the page is, as the URL says (`args`: the request's):
    {section: {after|before: cursor}}."""
    args = request.args if args is None else args
    positions = {}
    for name in (*SECTIONS, TELL):
        for way in ("after", "before"):
            value = args.get(f"{name}_{way}")
            if value and isinstance(value, str):
                positions[name] = {way: value[:MAX_CURSOR]}
    return positions


def _shown_positions(department_id: int) -> dict[str, dict]:
    """Where the other sections are on the page a section was paged from (htmx names that
    page in HX-Current-URL), so that the page's address keeps them: only from this
    department's inbox, and only as addresses (a section alone is read, from its own)."""
    try:
        current = urlsplit(request.headers.get("HX-Current-URL", "")[:MAX_URL])
    except ValueError:  # (not an address at all: "http://[", say)
        return {}
    if current.path != url_for("inbox.show", department_id=department_id):
        return {}
    return _positions(MultiDict(parse_qsl(current.query)))


def _page_address(department_id: int, kept: dict, positions: dict, name: str, position: dict):
    """The inbox's address with the list `name` at `position`, the others where they are."""
    others = {
        f"{n}_{way}": cursor
        for n, spot in positions.items()
        if n != name
        for way, cursor in spot.items()
    }
    mine = {f"{name}_{way}": cursor for way, cursor in position.items()}
    return row_url("inbox.show", department_id=department_id, **kept, **others, **mine)


def _beside(page, here: dict) -> list[tuple[str, dict]]:
    """The pages beside this one, as (label, position): previous, first, next."""
    beside = (
        ("previous", {"before": page.before} if page.before else None),
        ("first", {} if here else None),
        ("next", {"after": page.after} if page.after else None),
    )
    return [(label, position) for label, position in beside if position is not None]


def _section(
    department: Department, name: str, choices: dict, positions: dict, count: int, page
) -> dict:
    """One section: its page, its count, and the addresses of the pages beside it."""
    here = positions.get(name, {})
    kept = _kept(choices)

    def page_url(endpoint: str, position: dict) -> str:
        # the whole page keeps the other sections where they are; a section's own address
        # is the section alone
        if endpoint == "inbox.show":
            return _page_address(department.id, kept, positions, name, position)
        mine = {f"{name}_{way}": cursor for way, cursor in position.items()}
        return row_url(endpoint, department_id=department.id, section=name, **kept, **mine)

    links = {}
    for label, position in _beside(page, here):
        links[label] = {
            "page": page_url("inbox.show", position),
            "section": page_url("inbox.section", position),
        }
    return {
        "name": name,
        "title": SECTIONS[name].format(department=department.name),
        "hint": HINTS[name].format(department=department.name),
        "rows": page.rows,
        "count": count,
        "links": links,
    }


def _context(department: Department, names, positions: dict | None = None) -> dict:
    choices = _choices()
    positions = _positions() if positions is None else positions
    counts = section_counts(department.id)
    pages = section_pages(department.id, names, choices["per"], choices["sort"], positions)
    sections = [_section(department, n, choices, positions, counts[n], pages[n]) for n in names]
    loaded = handoff_cards([row.id for s in sections for row in s["rows"]])
    for s in sections:
        s["rows"] = [loaded[row.id] for row in s["rows"] if row.id in loaded]
    handoffs = [h for s in sections for h in s["rows"]]
    return {
        "department": department,
        "sections": sections,
        "answers": answers_by_handoff(current_user, handoffs),
        "choices": choices,
        "sorts": SORTS,
        "page_sizes": PAGE_SIZES,
        "view": "inbox",
    }


@bp.get("/departments/<int:department_id>/inbox")
@login_required
def show(department_id: int):
    """What waits for this department's answer, the counters it must settle, its work."""
    department = db.get_or_404(Department, department_id)
    choices, positions = _choices(), _positions()
    here = positions.get(TELL, {})
    tasks_page, tasks_total = open_tasks_of_department(department_id, choices["per"], **here)
    tasks = tasks_page.rows
    kept = _kept(choices)
    tasks_links = {
        label: _page_address(department.id, kept, positions, TELL, position)
        for label, position in _beside(tasks_page, here)
    }
    switchable = _every_department() if current_user.is_admin else current_user.acting_departments()
    return render(
        "inbox/show.html",
        "inbox/_lists.html",
        **_context(department, SECTIONS),
        tasks=tasks,
        tasks_total=tasks_total,
        tasks_links=tasks_links,
        **tasks_view(tasks, current_user, utcnow(), at_risk_within(), format_when),
        told_form=ToldForm(formdata=None),
        switchable=switchable,
        away=absences_in(department_id, utcnow()),
    )


def _every_department() -> list:
    """Every department's id and name, by name (whose inboxes an admin may open)."""
    return db.session.execute(
        select(Department.id, Department.name).order_by(Department.name)
    ).all()


@bp.get("/departments/<int:department_id>/inbox/<section>")
@login_required
def section(department_id: int, section: str):
    """One section of the inbox, another page of it (htmx swaps the section alone)."""
    if section not in SECTIONS:
        abort(404)
    department = db.get_or_404(Department, department_id)
    # this section where its own address says, the others where the page shows them
    positions = {**_shown_positions(department.id), section: _positions().get(section, {})}
    positions = {name: spot for name, spot in positions.items() if spot}
    context = _context(department, [section], positions)
    response = render_fragment("inbox/_section.html", section=context["sections"][0], **context)
    # the page's address follows the section, so that a reload, a link or Back shows it
    response.headers["HX-Push-Url"] = row_url(
        "inbox.show",
        department_id=department.id,
        **_kept(_choices()),
        **{f"{n}_{way}": cursor for n, spot in positions.items() for way, cursor in spot.items()},
    )
    return response


@bp.get("/departments/<int:department_id>/inbox/counts")
@login_required
def counts(department_id: int):
    """Each section's count, swapped into its badge after an answer changed one (and the
    customers to tell, when the page shows them: `?tell=1`)."""
    department = db.get_or_404(Department, department_id)
    counts = section_counts(department.id)
    if request.args.get("tell"):  # (the page shows the customers to tell: their badge too)
        counts["tell"] = open_tasks_count(department.id)
    return render_fragment("inbox/_counts.html", counts=counts)
