"""The truth about a commitment in one sentence an agent can read out loud."""

from collections.abc import Callable
from datetime import datetime

from handoff.commitments.lifecycle import State
from handoff.commitments.status import Status

Formatter = Callable[[datetime], str]


def status_sentence(
    commitment, status: Status, now: datetime, when: Formatter, ago: Callable
) -> str:
    """One sentence that claims no more than the handoffs' states support.

    The most serious fact comes first: a decline, a counter, lateness, what is still
    unconfirmed; only when every department has confirmed does the sentence say so.
    """
    route = [h for h in commitment.handoffs if h.state != State.CANCELLED]
    if status == Status.CANCELLED:
        return f"Cancelled on {when(commitment.cancelled_at)}: {commitment.cancel_reason}"
    if status == Status.FULFILLED:
        last = max(route, key=lambda h: h.done_at or h.changed_at)
        finished = when(last.done_at or last.changed_at)
        return f"Fulfilled: {last.department.name} finished on {finished}."
    declined = [h for h in route if h.state == State.DECLINED]
    if declined:
        h = declined[0]
        return f"{h.department.name} declined: {h.answer_note}"
    countered = [h for h in route if h.state == State.COUNTERED]
    if countered:
        h = countered[0]
        offer = when(h.counter_due_at) if h.counter_due_at else h.counter_terms
        settle = commitment.owner_department.name
        return (
            f"{h.department.name} cannot confirm as asked and offered {offer}; "
            f"{settle} has not settled it yet."
        )
    late = [h for h in route if h.state == State.ACCEPTED and h.due_at < now]
    if late:
        h = late[0]
        late_by = ago(h.due_at, now).removesuffix(" ago")
        return f"{h.department.name} confirmed for {when(h.due_at)} but is {late_by} late."
    pending = [h for h in route if h.state == State.PENDING]
    if pending:
        h = pending[0]
        others = len(pending) - 1
        extra = f" (and {others} more department{'s' if others > 1 else ''})" if others else ""
        return (
            f"Not yet confirmed by {h.department.name}{extra} — asked {ago(h.requested_at, now)}."
        )
    confirmed = [h for h in route if h.state == State.ACCEPTED]
    parts = [f"{h.department.name} confirmed for {when(h.due_at)}" for h in confirmed]
    done = [h for h in route if h.state == State.DONE]
    parts += [f"{h.department.name} is done" for h in done]
    sentence = "; ".join(parts) + "."
    if status == Status.OVERDUE:
        sentence += f" The customer was promised {when(commitment.promised_at)}, which has passed."
    return sentence


def customer_sentence(
    commitment, status: Status, now: datetime, when: Formatter, task=None, told=None
) -> str:
    """What an agent can say to the customer, true to the state and promising nothing more.

    It names a date only when a department confirmed it, and says "we can't confirm" while
    any part is unanswered, countered or declined. With an open task to tell the customer
    (`task`), the customer owner's deadline is the time the customer will hear by; once the
    customer was told (`told`, with no task open), it says so rather than promise a call.
    """
    route = [h for h in commitment.handoffs if h.state != State.CANCELLED]
    promised = when(commitment.promised_at)
    owner = commitment.customer_owner_department.name
    by = f" by {when(task.due_at)}" if task is not None and task.due_at > now else ""
    if status == Status.CANCELLED:
        return f"This was cancelled on {when(commitment.cancelled_at)}."
    if status == Status.FULFILLED:
        finished = max(h.done_at or h.changed_at for h in route)
        return f"It's done: everything we promised was completed on {when(finished)}."
    declined = [h for h in route if h.state == State.DECLINED]
    if declined:
        if task is None and told is not None:
            return (
                f"I'm sorry, we can't do this as promised for {promised}. {told.department} "
                f"spoke to you about it on {when(told.at)}, and {owner} is your contact for "
                f"what happens next."
            )
        return (
            f"I'm sorry, we can't do this as promised for {promised}. "
            f"{owner} will contact you{by} about what we can do instead."
        )
    countered = [h for h in route if h.state == State.COUNTERED]
    if countered:
        h = countered[0]
        within = h.counter_due_at and h.counter_due_at <= commitment.promised_at
        if within and not h.counter_terms:  # a part moves, still in time for the customer
            confirm = f"{owner} will confirm{by}." if by else "We'll confirm it soon."
            return f"We're still working to {promised}: one part is being rearranged. {confirm}"
        if h.counter_due_at:
            offer = f"the earliest we can offer is {when(h.counter_due_at)}"
        else:
            offer = f"we can only do it {h.counter_terms}"
        return (
            f"We can't confirm {promised} yet: {offer}. {owner} will confirm{by} "
            f"before anything changes."
            if by
            else f"We can't confirm {promised} yet: {offer}. We'll confirm before anything changes."
        )
    late = [h for h in route if h.state == State.ACCEPTED and h.due_at < now]
    if late or (status == Status.OVERDUE and now > commitment.promised_at):
        return f"It's running late: it was promised for {promised} and isn't finished yet. " + (
            f"{owner} will update you{by}."
            if by
            else f"{owner} is chasing it and will keep you updated."
        )
    if any(h.state == State.PENDING for h in route):
        return f"We can't confirm {promised} yet; {owner} will tell you as soon as it is confirmed."
    latest = max(h.due_at for h in route)
    what = commitment.title[0].lower() + commitment.title[1:]
    if task is not None and task.reason == "date_moved":
        return f"Your date has changed: {what} is now confirmed for {when(latest)}."
    return f"It's confirmed: {what}, by {when(latest)}."


def why_overdue(commitment, now: datetime, relative: Callable) -> str:
    """Why an overdue commitment is overdue, for its badge: which open step's time passed
    ("Installation was due 6 h ago"), or that the customer's date did (the board's "Overdue"
    beside "in 6 d", the customer's date, read as a contradiction)."""
    late = [h for h in commitment.handoffs if h.is_open and h.due_at < now]
    if late:
        return "; ".join(f"{h.department.name} was due {relative(h.due_at, now)}" for h in late)
    if commitment.promised_at < now:
        return f"the customer's date passed {relative(commitment.promised_at, now)}"
    return ""
