"""The customer picker's search."""

from flask import Blueprint, request
from flask_login import login_required

from handoff.customers.services import search_customers
from handoff.web import render_fragment

bp = Blueprint("customers", __name__)


@bp.get("/customers/search")
@login_required
def search():
    """Customers matching what was typed, as choices for the commitment form."""
    query = request.args.get("customer_query", "")[:200]  # a name, an email, a phone: short
    return render_fragment(
        "customers/_choices.html", customers=search_customers(query), query=query, chosen=None
    )
