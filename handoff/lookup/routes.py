"""The status lookup: one box, results as you type, one true sentence per commitment."""

from flask import Blueprint, request
from flask_login import login_required

from handoff.commitments.sentences import customer_sentence, status_sentence
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import format_relative
from handoff.kernel.search import SHORTEST
from handoff.lookup.queries import find_commitments
from handoff.ownership.services import open_task_by_commitment
from handoff.web import at_risk_within, format_when, render

MAX_QUERY = 200
bp = Blueprint("lookup", __name__)


@bp.get("/lookup")
@login_required
def index():
    """Look up what was promised and what is true now, while the customer is on the line."""
    query = request.args.get("q", "")[:MAX_QUERY]  # what anyone types on the phone, at most
    now = utcnow()
    results = []
    commitments, many = find_commitments(query)
    tasks = open_task_by_commitment([c.id for c in commitments])
    for commitment in commitments:
        status = commitment.status(now, at_risk_within())
        task = tasks.get(commitment.id)
        sentence = status_sentence(commitment, status, now, format_when, format_relative)
        to_say = customer_sentence(commitment, status, now, format_when, task)
        results.append((commitment, status, sentence, to_say, task))
    return render(
        "lookup/index.html",
        "lookup/_results.html",
        query=query,
        results=results,
        many=many,
        shortest=SHORTEST,
    )
