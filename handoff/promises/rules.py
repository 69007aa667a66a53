"""Whether a step of a route falls within a department's standing promise: a pure function."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from handoff.departments.business_time import BusinessHours


@dataclass(frozen=True)
class Terms:
    """What a standing promise allows."""

    name: str
    department: str
    lead_minutes: int
    max_amount: Decimal | None = None
    max_quantity: int | None = None
    active: bool = True


@dataclass(frozen=True)
class Verdict:
    """Covered (accepted at once) or not, and why not, in words for the person promising."""

    covered: bool
    reasons: tuple[str, ...] = ()


def describe_lead(minutes: float, hours: BusinessHours) -> str:
    """'3 business days', '1 business day and 2 h 30 min', '45 min' in the department's day."""
    days, rest = divmod(int(minutes), hours.day_minutes)
    parts = []
    if days:
        parts.append(f"{days} business day{'s' if days != 1 else ''}")
    whole_hours, rest_minutes = divmod(rest, 60)
    clock = " ".join(
        part
        for part in (
            f"{whole_hours} h" if whole_hours else "",
            f"{rest_minutes} min" if rest_minutes else "",
        )
        if part
    )
    if clock:
        parts.append(clock if days else f"{clock} of business time")
    return " and ".join(parts) or "no time"


def judge(
    terms: Terms,
    *,
    now: datetime,
    due_at: datetime,
    hours: BusinessHours,
    amount: Decimal | None = None,
    quantity: int | None = None,
) -> Verdict:
    """Whether promising `due_at` (and the amount, the quantity) stays within the terms."""
    reasons = []
    if not terms.active:
        reasons.append(f"{terms.department}'s '{terms.name}' is no longer offered")
    given = hours.minutes_between(now, due_at, enough=terms.lead_minutes)
    if given < terms.lead_minutes:
        needed = describe_lead(terms.lead_minutes, hours)
        offered = describe_lead(round(given), hours) if given else "no time at all"
        reasons.append(
            f"{terms.department}'s '{terms.name}' needs {needed}; you are promising {offered}"
        )
    if terms.max_amount is not None and amount is not None and amount > terms.max_amount:
        reasons.append(
            f"{terms.name} covers up to {terms.max_amount:,.2f}; you are promising {amount:,.2f}"
        )
    if terms.max_amount is not None and amount is None:
        reasons.append(f"{terms.name} has an amount limit: say the amount")
    if terms.max_quantity is not None and quantity is not None and quantity > terms.max_quantity:
        reasons.append(
            f"{terms.name} covers up to {terms.max_quantity}; you are promising {quantity}"
        )
    return Verdict(covered=not reasons, reasons=tuple(reasons))
