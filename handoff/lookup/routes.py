"""The status lookup: one box, results as you type, one true sentence per commitment."""

from flask import Blueprint, request, url_for
from flask_login import login_required

from handoff.commitments.rows import delegated_answers
from handoff.commitments.sentences import customer_sentence, status_sentence
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import format_relative
from handoff.kernel.paging import Cursor, page_size
from handoff.kernel.search import SHORTEST
from handoff.lookup.queries import LOOKUP_LIMIT, find_commitments
from handoff.ownership.services import last_told_by_commitment, open_task_by_commitment
from handoff.web import at_risk_within, format_when, render

MAX_QUERY = 200
bp = Blueprint("lookup", __name__)


@bp.get("/lookup")
@login_required
def index():
    """Look up what was promised and what is true now, while the customer is on the line."""
    query = request.args.get("q", "")[:MAX_QUERY]  # what anyone types on the phone, at most
    per = page_size(request.args.get("per"), default=LOOKUP_LIMIT)
    cursor = Cursor.read(request.args.get("after"), (int,)) or Cursor.read(
        request.args.get("before"), (int,), backwards=True
    )
    now = utcnow()
    results = []
    page, many = find_commitments(query, per, cursor)
    tasks = open_task_by_commitment([c.id for c in page.rows])
    told = last_told_by_commitment([c.id for c in page.rows])
    for commitment in page.rows:
        status = commitment.status(now, at_risk_within())
        task = tasks.get(commitment.id)
        sentence = status_sentence(commitment, status, now, format_when, format_relative)
        heard = told.get(commitment.id)
        to_say = customer_sentence(commitment, status, now, format_when, task, heard)
        results.append((commitment, status, sentence, to_say, task, heard))
    return render(
        "lookup/index.html",
        "lookup/_results.html",
        query=query,
        results=results,
        delegated=delegated_answers(page.rows),
        many=many,
        pages=_pages(query, per, page),
        shortest=SHORTEST,
    )


def _pages(query: str, per: int, page) -> dict:
    """The addresses of the pages beside this one (newer, older), the query and size kept."""
    kept = {"q": query, **({"per": per} if per != LOOKUP_LIMIT else {})}
    pages = {}
    if page.before:
        pages["newer"] = url_for("lookup.index", **kept, before=page.before)
    if page.after:
        pages["older"] = url_for("lookup.index", **kept, after=page.after)
    return pages
