"""The status lookup: one box, results as you type, one true sentence per commitment."""

from flask import Blueprint, request
from flask_login import login_required
from sqlalchemy import case, select
from sqlalchemy.orm import selectinload

from handoff.commitments.models import Commitment
from handoff.commitments.sentences import customer_sentence, status_sentence
from handoff.customers.models import Customer
from handoff.customers.services import customer_matches
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import format_relative
from handoff.kernel.db import db
from handoff.ownership.services import open_task_by_commitment
from handoff.web import at_risk_within, format_when, render

MAX_QUERY = 200
bp = Blueprint("lookup", __name__)
LOOKUP_LIMIT = 25


def find_commitments(query: str) -> list[Commitment]:
    """Commitments whose reference, or whose customer's name, email, phone or account matches."""
    query = query.strip()
    if len(query) < 2:
        return []
    condition = Commitment.customer_id.in_(select(Customer.id).where(customer_matches(query)))
    reference_id = Commitment.id_from_reference(query)
    if reference_id and query.upper().startswith("C"):
        condition = condition | (Commitment.id == reference_id)
    open_first = case((Commitment.cancelled_at.is_(None), 0), else_=1)
    return list(
        db.session.scalars(
            select(Commitment)
            .where(condition)
            .options(selectinload(Commitment.handoffs))
            .order_by(open_first, Commitment.promised_at.desc(), Commitment.id.desc())
            .limit(LOOKUP_LIMIT)
        )
    )


@bp.get("/lookup")
@login_required
def index():
    """Look up what was promised and what is true now, while the customer is on the line."""
    query = request.args.get("q", "")[:MAX_QUERY]  # what anyone types on the phone, at most
    now = utcnow()
    results = []
    commitments = find_commitments(query)
    tasks = open_task_by_commitment([c.id for c in commitments])
    for commitment in commitments:
        status = commitment.status(now, at_risk_within())
        task = tasks.get(commitment.id)
        sentence = status_sentence(commitment, status, now, format_when, format_relative)
        to_say = customer_sentence(commitment, status, now, format_when, task)
        results.append((commitment, status, sentence, to_say, task))
    return render("lookup/index.html", "lookup/_results.html", query=query, results=results)
