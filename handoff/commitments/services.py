"""The verbs of the domain. These functions are the only code that changes a handoff.

Each one checks who may act, locks the handoff row, asks the lifecycle for the next state,
stamps who and when, and appends the timeline event, all in the caller's transaction.
The caller commits. Routes, the scheduler and email links all come through here.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, text

from handoff.accounts.models import Person
from handoff.commitments.answers import answerer_refusal, owner_refusal
from handoff.commitments.lifecycle import Action, State, is_repeat, next_state
from handoff.commitments.models import (
    NOT_YET_LATE_WHERE,
    Comment,
    Commitment,
    CustomerFeedback,
    Handoff,
)
from handoff.commitments.status import Status
from handoff.customers.models import Customer
from handoff.departments.models import Department
from handoff.kernel import events
from handoff.kernel.db import db, lock_row, locked, skip_locked
from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed
from handoff.kernel.events import (
    AcceptedByStandingPromise,
    CommitmentFulfilled,
    CommitmentRecorded,
    FeedbackRecorded,
    HandoffAnswered,
    HandoffRequested,
    PromiseBroke,
    announce,
)
from handoff.kernel.forms import FIRST_YEAR, LAST_YEAR
from handoff.kernel.timeline import record

LATE_BATCH = 100  # rows a transaction locks at once


@dataclass(frozen=True)
class RouteStep:
    department: Department
    ask: str
    due_at: datetime
    standing_promise: "StandingPromise | None" = None  # noqa: F821
    amount: Decimal | None = None
    quantity: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What an answer did: `changed` is False when it only repeated the current answer."""

    handoff: Handoff
    changed: bool


def may_record_for(person: Person, department: Department) -> bool:
    """A promise is recorded on behalf of one of the person's own departments."""
    return person.belongs_to(department.id)


def _validate_route(route: list[RouteStep], now: datetime) -> None:
    """Each refusal names the step's field as `route.<n>.<name>` (n from 0, as entered)."""
    if not route:
        raise InvalidInput("The route needs at least one department.")
    seen: set[int] = set()
    for n, step in enumerate(route):
        promise = step.standing_promise
        if promise is not None and promise.department_id != step.department.id:
            raise InvalidInput(
                f"'{promise.name}' is not {step.department.name}'s promise.",
                f"route.{n}.standing_promise_id",
            )
        if step.department.id in seen:
            raise InvalidInput(
                f"{step.department.name} appears twice in the route.", f"route.{n}.department_id"
            )
        seen.add(step.department.id)
        if not step.ask.strip():
            raise InvalidInput(f"Say what is asked of {step.department.name}.", f"route.{n}.ask")
        if step.due_at <= now:
            raise InvalidInput(
                f"The date for {step.department.name} is in the past.", f"route.{n}.due_at"
            )


def record_commitment(
    *,
    actor: Person,
    customer: Customer,
    title: str,
    details: str,
    channel: str,
    promised_at: datetime,
    owner_department: Department,
    route: list[RouteStep],
    now: datetime,
) -> Commitment:
    """Record a promise and hand each step of its route to its department, pending."""
    if not may_record_for(actor, owner_department):
        raise NotAllowed(f"You are not in {owner_department.name}.")
    if promised_at <= now:
        raise InvalidInput("The promised time is in the past.", "promised_at")
    _validate_route(route, now)
    commitment = Commitment(
        customer=customer,
        title=title.strip(),
        details=details.strip(),
        channel=channel,
        promised_at=promised_at,
        owner_department=owner_department,
        made_by=actor,
        customer_owner_department=owner_department,
        customer_owner_person=actor,
        created_at=now,
    )
    db.session.add(commitment)
    db.session.flush()
    record(commitment, "recorded", now, actor=actor, by=actor.name)
    for step in route:
        _append_step(commitment, step, actor, now)
    announce(CommitmentRecorded(commitment, actor, now))
    return commitment


def _append_step(commitment: Commitment, step: RouteStep, actor: Person, now: datetime) -> Handoff:
    position = max((h.position for h in commitment.handoffs), default=0) + 1
    handoff = Handoff(
        commitment=commitment,
        department=step.department,
        owner_department_id=commitment.owner_department_id,
        position=position,
        ask=step.ask.strip(),
        due_at=step.due_at,
        standing_promise_id=step.standing_promise.id if step.standing_promise else None,
        amount=step.amount,
        quantity=step.quantity,
        state=State.PENDING,
        requested_at=now,
        requested_by_id=actor.id,
        changed_at=now,
        changed_by_id=actor.id,
    )
    db.session.add(handoff)
    db.session.flush()
    record(
        commitment,
        "requested",
        now,
        actor=actor,
        handoff=handoff,
        to_state=State.PENDING,
        about_at=step.due_at,
        department=step.department.name,
        ask=handoff.ask,
    )
    announce(HandoffRequested(handoff, actor, now))
    return handoff


def accept_by_standing_promise(handoff: Handoff, promise: str, actor: Person, now: datetime):
    """Accept the handoff at once by its department's standing promise (the promises concept
    judged it within the promise); the department hears of it in its next digest."""
    outcome = _move(handoff, Action.ACCEPT, actor, now, {"promise": promise})
    if outcome.changed:
        outcome.handoff.answered_at = now
        outcome.handoff.answer_note = f"By standing promise '{promise}'"
        announce(AcceptedByStandingPromise(outcome.handoff, promise, now))
    return outcome


def _move(
    handoff: Handoff,
    action: Action,
    actor: Person,
    now: datetime,
    facts: dict,
    kind: str | None = None,
    about_at: datetime | None = None,
    due_at: datetime | None = None,
) -> Outcome:
    """Move the handoff by `action` under its row lock, and put it on the timeline with the
    facts the words are made of."""
    handoff = locked(handoff)
    current = State(handoff.state)
    if is_repeat(current, action):
        return Outcome(handoff, changed=False)
    # (read before the change: read after it, the flush that writes the change would load it
    # a second time, to keep its board facts)
    commitment = handoff.commitment
    absent = _acting_for(actor, handoff, action, now)
    if absent is not None:  # a delegate answers: the words say for whom
        facts = {**facts, "by": actor.name, "for": absent.name}
    target = next_state(current, action)
    handoff.state = target
    handoff.changed_at = now
    handoff.changed_by_id = actor.id
    if due_at is not None:
        handoff.due_at = due_at
    record(
        commitment,
        kind or action.value,
        now,
        actor=actor,
        handoff=handoff,
        from_state=current,
        to_state=target,
        about_at=about_at,
        **facts,
    )
    by_promise = bool(facts.get("promise"))
    announce(
        HandoffAnswered(
            handoff, action.value, current.value, target.value, actor, now, by_promise=by_promise
        )
    )
    return Outcome(handoff, changed=True)


OWNER_SIDE_ACTIONS = frozenset({Action.TAKE_COUNTER, Action.REJECT_COUNTER, Action.CANCEL})


def _acting_for(actor: Person, handoff: Handoff, action: Action, now: datetime):
    """The away member `actor` gives this answer for as their delegate (None: for nobody;
    a delegate answers the department's handoffs, never for the promising side)."""
    if action in OWNER_SIDE_ACTIONS:
        return None
    return actor.acting_for(handoff.department_id, now)


def _stamp_answer(handoff: Handoff, actor: Person, now: datetime, note: str) -> None:
    handoff.answered_at = now
    handoff.answered_by_id = actor.id
    absent = actor.acting_for(handoff.department_id, now)  # (answers are the department's)
    handoff.answered_for_id = absent.id if absent else None
    handoff.answer_note = note.strip()


def _require_answerer(actor: Person, handoff: Handoff, now: datetime | None = None) -> None:
    refused = answerer_refusal(actor, handoff, now)
    if refused:
        raise NotAllowed(refused)


def _require_owner_side(actor: Person, commitment: Commitment) -> None:
    refused = owner_refusal(actor, commitment)
    if refused:
        raise NotAllowed(refused)


def accept(handoff: Handoff, actor: Person, now: datetime, note: str = "") -> Outcome:
    """The department accepts its handoff as asked."""
    _require_answerer(actor, handoff, now)
    name = handoff.department.name
    outcome = _move(handoff, Action.ACCEPT, actor, now, {"department": name, "note": note.strip()})
    if outcome.changed:
        _stamp_answer(outcome.handoff, actor, now, note)
    return outcome


def decline(handoff: Handoff, actor: Person, now: datetime, reason: str) -> Outcome:
    """The department declines its handoff; a reason is required."""
    _require_answerer(actor, handoff, now)
    if not reason.strip():
        raise InvalidInput("Say why the handoff is declined.", "reason")
    name = handoff.department.name
    outcome = _move(
        handoff, Action.DECLINE, actor, now, {"department": name, "note": reason.strip()}
    )
    if outcome.changed:
        _stamp_answer(outcome.handoff, actor, now, reason)
        announce(PromiseBroke(outcome.handoff, events.DECLINED, actor, now))
    return outcome


def counter(
    handoff: Handoff,
    actor: Person,
    now: datetime,
    *,
    due_at: datetime | None,
    terms: str,
    note: str = "",
) -> Outcome:
    """The department answers with what it can really do: another date and/or terms."""
    _require_answerer(actor, handoff, now)
    if due_at is None and not terms.strip():
        raise InvalidInput("A counter needs a date or terms the department can meet.")
    if due_at is not None and due_at <= now:
        raise InvalidInput("The counter date is in the past.", "due_at")
    if due_at is not None and not FIRST_YEAR <= due_at.year <= LAST_YEAR:
        raise InvalidInput(f"Give a date from {FIRST_YEAR} to {LAST_YEAR}.", "due_at")
    name = handoff.department.name
    facts = {"department": name, "note": (terms or note).strip()}
    outcome = _move(handoff, Action.COUNTER, actor, now, facts, about_at=due_at)
    if outcome.changed:
        _stamp_answer(outcome.handoff, actor, now, note)
        outcome.handoff.counter_due_at = due_at
        outcome.handoff.counter_terms = terms.strip()
    return outcome


def take_counter(handoff: Handoff, actor: Person, now: datetime) -> Outcome:
    """The owner side takes the counter: accepted with the department's date and terms.

    If that date is later than what the customer was promised, the customer's date moves,
    and the customer must be told: the countering department now talks to them.
    """
    commitment = handoff.commitment
    _require_owner_side(actor, commitment)
    fresh = locked(handoff)
    new_due = fresh.counter_due_at
    facts = {"by": actor.name, "department": handoff.department.name}
    outcome = _move(fresh, Action.TAKE_COUNTER, actor, now, facts, about_at=new_due, due_at=new_due)
    if outcome.changed and new_due is not None and new_due > commitment.promised_at:
        commitment.promised_at = new_due
        record(
            commitment, "customer_date_moved", now, actor=actor, handoff=handoff, about_at=new_due
        )
        announce(PromiseBroke(outcome.handoff, events.DATE_MOVED, outcome.handoff.answered_by, now))
    return outcome


def reject_counter(handoff: Handoff, actor: Person, now: datetime, note: str) -> Outcome:
    """The owner side refuses the counter: the handoff is asked again as it was."""
    _require_owner_side(actor, handoff.commitment)
    if not note.strip():
        raise InvalidInput("Say why the counter is rejected.", "reason")
    facts = {"by": actor.name, "department": handoff.department.name, "note": note.strip()}
    outcome = _move(handoff, Action.REJECT_COUNTER, actor, now, facts)
    if outcome.changed:
        outcome.handoff.counter_due_at = None
        outcome.handoff.counter_terms = ""
    return outcome


def complete(handoff: Handoff, actor: Person, now: datetime, note: str = "") -> Outcome:
    """The department marks its accepted handoff done."""
    _require_answerer(actor, handoff, now)
    facts = {"department": handoff.department.name, "note": note.strip()}
    outcome = _move(handoff, Action.COMPLETE, actor, now, facts)
    if outcome.changed:
        outcome.handoff.done_at = now
        commitment = outcome.handoff.commitment
        states = {h.state for h in commitment.handoffs}
        if commitment.cancelled_at is None and states <= {State.DONE, State.CANCELLED}:
            announce(CommitmentFulfilled(commitment, now))
    return outcome


def remove_step(handoff: Handoff, actor: Person, now: datetime, reason: str) -> Outcome:
    """The owner side takes one open step off the route (the route is changed)."""
    commitment = handoff.commitment
    _require_owner_side(actor, commitment)
    if not reason.strip():
        raise InvalidInput("Say why the step is taken off the route.", "reason")
    # Changes of the route take turns on the commitment's lock (as cancelling it does), and
    # what is left of the route is read under it: two people taking off the last two steps
    # at once cannot leave a commitment with none.
    lock_row(Commitment, commitment.id)
    states = db.session.execute(
        select(Handoff.id, Handoff.state).where(Handoff.commitment_id == commitment.id)
    )
    remaining = [i for i, state in states if i != handoff.id and state != State.CANCELLED]
    if not remaining:
        raise InvalidInput("This is the last step of the route: cancel the commitment instead.")
    facts = {"department": handoff.department.name, "note": reason.strip()}
    return _move(handoff, Action.CANCEL, actor, now, facts, kind="removed")


def give_answer(
    handoff: Handoff,
    action: Action,
    actor: Person,
    now: datetime,
    *,
    note: str = "",
    reason: str = "",
    due_at: datetime | None = None,
    terms: str = "",
) -> Outcome:
    """Give the answer `action` to the handoff by its verb: the one way in for the pages,
    the reminder links and (later) the API."""
    match Action(action):
        case Action.ACCEPT:
            return accept(handoff, actor, now, note)
        case Action.DECLINE:
            return decline(handoff, actor, now, reason)
        case Action.COUNTER:
            return counter(handoff, actor, now, due_at=due_at, terms=terms, note=note)
        case Action.TAKE_COUNTER:
            return take_counter(handoff, actor, now)
        case Action.REJECT_COUNTER:
            return reject_counter(handoff, actor, now, reason)
        case Action.COMPLETE:
            return complete(handoff, actor, now, note)
        case Action.CANCEL:
            return remove_step(handoff, actor, now, reason)


def add_step(commitment: Commitment, actor: Person, now: datetime, step: RouteStep) -> Handoff:
    """The owner side adds a department to the route."""
    _require_owner_side(actor, commitment)
    if commitment.cancelled_at is not None:
        raise InvalidInput("The commitment is cancelled.")
    if any(h.department_id == step.department.id for h in commitment.handoffs):
        raise InvalidInput(f"{step.department.name} is already on the route.", "department_id")
    _validate_route([step], now)
    return _append_step(commitment, step, actor, now)


def cancel_commitment(commitment: Commitment, actor: Person, now: datetime, reason: str) -> None:
    """The owner side cancels the commitment; every open handoff is cancelled with it."""
    _require_owner_side(actor, commitment)
    if not reason.strip():
        raise InvalidInput("Say why the commitment is cancelled.", "reason")
    locked(commitment)
    if commitment.cancelled_at is not None:
        return
    commitment.cancelled_at = now
    commitment.cancelled_by_id = actor.id
    commitment.cancel_reason = reason.strip()
    for handoff in commitment.handoffs:
        if handoff.is_open:
            _move(handoff, Action.CANCEL, actor, now, {"department": handoff.department.name})
    record(commitment, "cancelled", now, actor=actor, by=actor.name, note=reason.strip())


def edit_commitment(
    commitment: Commitment,
    actor: Person,
    now: datetime,
    *,
    title: str,
    details: str,
    promised_at: datetime,
) -> None:
    """The owner side corrects what was promised or when."""
    _require_owner_side(actor, commitment)
    if commitment.cancelled_at is not None:
        raise InvalidInput("The commitment is cancelled.")
    changes = []
    if title.strip() != commitment.title:
        changes.append("what was promised")
        commitment.title = title.strip()
    if details.strip() != commitment.details:
        changes.append("the details")
        commitment.details = details.strip()
    if promised_at != commitment.promised_at:
        if promised_at <= now:
            raise InvalidInput("The promised time is in the past.", "promised_at")
        changes.append("the promised time")
        commitment.promised_at = promised_at
    if changes:
        about = promised_at if "the promised time" in changes else None
        record(
            commitment, "edited", now, actor=actor, about_at=about, by=actor.name, changes=changes
        )


def may_record_feedback(person: Person, commitment: Commitment) -> bool:
    """Whoever owns the customer conversation (and admins) records how the customer felt."""
    return person.belongs_to(commitment.customer_owner_department_id)


def record_feedback(
    commitment: Commitment, actor: Person, now: datetime, *, score: int, comment: str
) -> CustomerFeedback:
    """Record the customer's 1–5 score and comment on a fulfilled commitment, once."""
    if not may_record_feedback(actor, commitment):
        owner = commitment.customer_owner_department.name
        raise NotAllowed(f"Only {owner}, who talks to the customer, records their feedback.")
    if not 1 <= score <= 5:
        raise InvalidInput("The score is from 1 to 5.", "score")
    state = commitment.status(now, at_risk_within=timedelta(0))
    if state != Status.FULFILLED:
        raise Conflict(
            f"Feedback comes when the commitment is fulfilled; it is {state.label.lower()}."
        )
    existing = db.session.scalar(
        select(CustomerFeedback).where(CustomerFeedback.commitment_id == commitment.id)
    )
    if existing is not None:
        raise Conflict(
            f"{existing.recorded_by.name} already recorded the customer's feedback "
            f"({existing.score}/5)."
        )
    feedback = CustomerFeedback(
        commitment_id=commitment.id,
        score=score,
        comment=comment.strip(),
        recorded_by_id=actor.id,
        created_at=now,
    )
    db.session.add(feedback)
    record(
        commitment,
        "feedback",
        now,
        actor=actor,
        by=actor.name,
        score=score,
        note=comment.strip(),
    )
    announce(FeedbackRecorded(commitment, score, now))
    return feedback


def add_comment(commitment: Commitment, actor: Person, now: datetime, body: str) -> Comment:
    """Anyone signed in writes to the commitment's internal discussion."""
    if not body.strip():
        raise InvalidInput("Write something first.", "body")
    comment = Comment(commitment_id=commitment.id, author=actor, body=body.strip(), created_at=now)
    db.session.add(comment)
    record(commitment, "comment", now, actor=actor, by=actor.name)
    return comment


def note_late_handoffs(now: datetime) -> int:
    """Find accepted handoffs past their due time and not done: each breaks its promise once.

    One query of an index that holds only accepted work not yet noted late (its condition
    written out, so that the planner knows the index); rows another sweep holds are skipped;
    each batch is its own short transaction, so that locks are held briefly.
    """
    noted = 0
    while True:
        ids = list(
            db.session.scalars(
                skip_locked(
                    select(Handoff.id)
                    .where(text(NOT_YET_LATE_WHERE), Handoff.due_at <= now)
                    # the index's order (the first two are the same in every row): so that
                    # PostgreSQL reads it in order, it does not take IS NULL for one value
                    .order_by(Handoff.state, Handoff.late_noted_at, Handoff.due_at, Handoff.id)
                    .limit(LATE_BATCH)
                )
            )
        )
        if not ids:
            return noted
        handoffs = db.session.scalars(
            select(Handoff)
            .where(Handoff.id.in_(ids))
            .order_by(Handoff.due_at, Handoff.id)
            .execution_options(populate_existing=True)
        ).all()
        for handoff in handoffs:
            handoff.late_noted_at = now
            if handoff.state == State.ACCEPTED and handoff.commitment.cancelled_at is None:
                announce(PromiseBroke(handoff, events.LATE, handoff.answered_by, now))
                noted += 1
        db.session.commit()
        if len(ids) < LATE_BATCH:
            return noted
