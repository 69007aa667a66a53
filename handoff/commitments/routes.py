"""Recording commitments, the commitment page, and answering handoffs."""

import re

from flask import Blueprint, abort, current_app, redirect, request, url_for
from flask_login import current_user, login_required
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import select

from handoff.commitments import services
from handoff.commitments.answers import (
    ANSWERS,
    answers_by_handoff,
    may_settle,
    owner_refusal,
    refusal,
)
from handoff.commitments.forms import (
    ANSWER_FORMS,
    AddStepForm,
    CommentForm,
    CommitmentForm,
    EditCommitmentForm,
    FeedbackForm,
    ReasonForm,
)
from handoff.commitments.lifecycle import InvalidTransition
from handoff.commitments.models import Comment, Commitment, Handoff
from handoff.commitments.rows import handoff_cards
from handoff.customers.models import Customer
from handoff.customers.services import CustomerInput, find_or_create_customer
from handoff.departments.models import Department
from handoff.extensions import htmx
from handoff.kernel.clock import utcnow
from handoff.kernel.db import commit_writes, db, reads_first
from handoff.kernel.errors import InvalidInput, NotAllowed
from handoff.kernel.forms import choices, database_id
from handoff.kernel.timeline import TimelineEvent
from handoff.ownership.forms import ToldForm
from handoff.ownership.services import tasks_of, tasks_view
from handoff.promises import services as promise_services
from handoff.web import (
    at_risk_within,
    attempt,
    format_when,
    from_local,
    local_input,
    render,
    render_fragment,
    show_refusal,
    wants_fragment,
)

bp = Blueprint("commitments", __name__)
REFERENCE_IN_URL = re.compile(r"[Cc]-[0-9]{1,10}")


@bp.before_request
@login_required
def _signed_in():
    """Every page here needs a signed-in person."""


def get_commitment(reference: str) -> Commitment:
    """The commitment behind a reference such as C-1042, or 404."""
    commitment_id = Commitment.id_from_reference(reference)
    if commitment_id is None or not REFERENCE_IN_URL.fullmatch(reference):
        abort(404)  # (the lookup box reads "c 1042"; an address is written one way)
    return db.get_or_404(Commitment, commitment_id)


def _all_departments() -> list[Department]:
    return list(db.session.scalars(select(Department).order_by(Department.name)))


def _own_departments() -> list[Department]:
    if current_user.is_admin:
        return _all_departments()
    return current_user.departments


# --- recording ------------------------------------------------------------------------------


@bp.route("/commitments/new", methods=["GET", "POST"])
def new():
    """Record a commitment: the customer, the promise, and the route of departments."""
    form = CommitmentForm()
    all_departments = _all_departments()
    own = _own_departments()
    promises = promise_services.active_promises()
    op = request.form.get("op", "save")
    if request.method == "POST" and op != "save":
        _change_route_rows(form, op)
        form.set_department_choices(all_departments, own, promises)
        return _render_form(form, None, 200)
    form.set_department_choices(all_departments, own, promises)
    if request.method in ("GET", "HEAD"):
        form.customer_id.data = request.args.get("customer", type=database_id)
        return _render_form(form, None, 200)
    if not own:
        return _render_form(form, "You belong to no department, so you cannot record.", 422)
    if not form.validate():
        return _render_form(form, None, 422)

    route = _route_from(form, all_departments, promises)
    owner = next(d for d in all_departments if d.id == form.owner_department_id.data)
    done, commitment = attempt(form, _record, form, owner, route, utcnow())
    if not done:
        return _render_form(form, None, 422)
    return _back_to(commitment)


def _record(form: CommitmentForm, owner: Department, route, now) -> Commitment:
    """The customer the form names (picked, or new), and the commitment made to them."""
    customer = find_or_create_customer(
        form.customer_id.data,
        CustomerInput(
            name=form.new_customer_name.data or "",
            email=form.new_customer_email.data or "",
            phone=form.new_customer_phone.data or "",
            account_ref=form.new_customer_account_ref.data or "",
        ),
    )
    return services.record_commitment(
        actor=current_user,
        customer=customer,
        title=form.title.data,
        details=form.details.data or "",
        channel=form.channel.data,
        promised_at=from_local(form.promised_at.data),
        owner_department=owner,
        route=route,
        now=now,
    )


def _route_from(form: CommitmentForm, departments, promises) -> list[services.RouteStep]:
    """The route the form describes (its steps must have a department and a time)."""
    by_id = {d.id: d for d in departments}
    promise_by_id = {p.id: p for p in promises}
    return [
        services.RouteStep(
            department=by_id[step.form.department_id.data],
            ask=step.form.ask.data or "",
            due_at=from_local(step.form.due_at.data),
            standing_promise=promise_by_id.get(step.form.standing_promise_id.data),
            amount=step.form.amount.data,
            quantity=step.form.quantity.data,
        )
        for step in form.route
        if step.form.department_id.data in by_id and step.form.due_at.data
    ]


@bp.post("/commitments/new/check")
def check_route():
    """While the form is filled in: which steps a standing promise accepts at once, and why
    the others need the department's answer (information, not a wall)."""
    form = CommitmentForm()
    promises = promise_services.active_promises()
    form.set_department_choices(_all_departments(), _own_departments(), promises)
    for step in form.route:  # parse what is there, quietly: this is not a save
        step.form.validate()
    now = utcnow()
    lines = []
    for step in _route_from(form, _all_departments(), promises):
        verdict = promise_services.verdict_for_step(step, now)
        offered = [p for p in promises if p.department_id == step.department.id]
        lines.append(
            {
                "step": step,
                "verdict": verdict,
                "offered": offered,
                "on_duty": step.department.on_duty,
            }
        )
    return render_fragment("commitments/_promise_check.html", lines=lines, now=now)


def _change_route_rows(form: CommitmentForm, op: str) -> None:
    """Add or remove a row of the route without saving anything."""
    if op == "add-step" and len(form.route) < form.route.max_entries:
        form.route.append_entry()
    elif op.startswith("remove-") and len(form.route) > 1:
        entry_id = op.removeprefix("remove-")
        form.route.entries = [e for e in form.route.entries if e.id != entry_id]


def _render_form(form: CommitmentForm, problem: str | None, status: int):
    try:  # a refused form shows the customer picked, if it is one the database can hold
        picked = database_id(form.customer_id.data) if form.customer_id.data else None
    except ValueError:
        picked = None
    chosen = db.session.get(Customer, picked) if picked else None
    return render(
        "commitments/new.html",
        "commitments/_form.html",
        status=status,
        form=form,
        problem=problem,
        chosen_customer=chosen,
    )


# --- the commitment page ------------------------------------------------------------------


def _page_context(commitment: Commitment) -> dict:
    timeline = db.session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.commitment_id == commitment.id)
        .order_by(TimelineEvent.created_at.desc(), TimelineEvent.id.desc())
    ).all()
    comments = db.session.scalars(
        select(Comment)
        .where(Comment.commitment_id == commitment.id)
        .order_by(Comment.created_at, Comment.id)
    ).all()
    return {
        "commitment": commitment,
        "commitment_status": status_now(commitment),
        "answers": answers_by_handoff(current_user, commitment.handoffs),
        "timeline": timeline,
        "comments": comments,
        **_tell_context(commitment),
        "owner_side": may_settle(current_user, commitment),
        "step_form": _step_form(commitment, formdata=None),
        "cancel_form": ReasonForm(formdata=None),
        "feedback_form": FeedbackForm(formdata=None),
        "may_feedback": services.may_record_feedback(current_user, commitment),
    }


def _step_form(commitment: Commitment, formdata=...) -> AddStepForm:
    """The form that adds a department to the route: those not on it yet to choose from."""
    form = AddStepForm() if formdata is ... else AddStepForm(formdata=formdata)
    on_route = {h.department_id for h in commitment.handoffs}
    form.department_id.choices = choices(
        [("", "Choose…")] + [(d.id, d.name) for d in _all_departments() if d.id not in on_route]
    )
    return form


def _refused(commitment: Commitment, fragment: str, **forms):
    """The commitment page again with a refused form's errors in place (htmx: that part)."""
    context = {**_page_context(commitment), **forms}
    return render(
        "commitments/show.html", fragment, status=422, comment_form=CommentForm(), **context
    )


def status_now(commitment: Commitment):
    """The commitment's status now, as every page shows it."""
    return commitment.status(utcnow(), at_risk_within())


@bp.get("/commitments/<reference>")
def show(reference: str):
    """What was promised, every handoff, the actions open to this person, the timeline."""
    commitment = get_commitment(reference)
    context = _page_context(commitment)
    return render("commitments/show.html", comment_form=CommentForm(), **context)


@bp.get("/commitments/<reference>/summary")
def summary(reference: str):
    """The status header of the commitment page, refreshed after each change."""
    commitment = get_commitment(reference)
    return render_fragment(
        "commitments/_summary.html", commitment=commitment, commitment_status=status_now(commitment)
    )


def _tell_context(commitment: Commitment) -> dict:
    tasks = tasks_of(commitment)
    view = tasks_view(tasks, current_user, utcnow(), at_risk_within(), format_when)
    return {"tasks": tasks, "told_form": ToldForm(formdata=None), **view}


@bp.get("/commitments/<reference>/tell")
def tell(reference: str):
    """Who tells the customer what, refreshed after each change."""
    commitment = get_commitment(reference)
    return render_fragment(
        "ownership/_tasks.html", commitment=commitment, **_tell_context(commitment)
    )


@bp.get("/commitments/<reference>/timeline")
def timeline(reference: str):
    """The timeline, newest first, refreshed after each change."""
    commitment = get_commitment(reference)
    return render_fragment("commitments/_timeline.html", **_page_context(commitment))


@bp.post("/commitments/<reference>/comments")
def comment(reference: str):
    """Write to the commitment's internal discussion."""
    commitment = get_commitment(reference)
    form = CommentForm()
    status = 200
    if form.validate():
        services.add_comment(commitment, current_user, utcnow(), form.body.data)
        db.session.commit()
        form = CommentForm(formdata=None)
    else:
        status = 422
    context = _page_context(commitment)
    if not wants_fragment():
        if status == 200:
            return redirect(url_for("commitments.show", reference=reference), 303)
        return render("commitments/show.html", status=status, comment_form=form, **context)
    trigger = "commitment-changed" if status == 200 else None
    return render_fragment(
        "commitments/_discussion.html", status, trigger, comment_form=form, **context
    )


@bp.post("/commitments/<reference>/feedback")
def feedback(reference: str):
    """The owner of the customer conversation records how the customer felt about it."""
    commitment = get_commitment(reference)
    form = FeedbackForm()
    if not form.validate():
        return _refused(commitment, "commitments/_feedback.html", feedback_form=form)
    services.record_feedback(
        commitment, current_user, utcnow(), score=form.score.data, comment=form.comment.data or ""
    )
    db.session.commit()
    return _back_to(commitment)


@bp.route("/commitments/<reference>/edit", methods=["GET", "POST"])
def edit(reference: str):
    """The owner side corrects what was promised or when."""
    commitment = get_commitment(reference)
    if not may_settle(current_user, commitment):
        raise NotAllowed(f"Only {commitment.owner_department.name} can edit it.")
    form = EditCommitmentForm(
        data={
            "title": commitment.title,
            "details": commitment.details,
            "promised_at": local_input(commitment.promised_at),
        }
        if request.method in ("GET", "HEAD")
        else None
    )
    if request.method == "POST" and form.validate():
        done, _ = attempt(
            form,
            services.edit_commitment,
            commitment,
            current_user,
            utcnow(),
            title=form.title.data,
            details=form.details.data or "",
            promised_at=from_local(form.promised_at.data),
        )
        if done:
            return redirect(url_for("commitments.show", reference=reference), 303)
    status = 422 if request.method == "POST" else 200
    return render("commitments/edit.html", status=status, form=form, commitment=commitment)


@bp.post("/commitments/<reference>/cancel")
def cancel(reference: str):
    """The owner side cancels the commitment and every open handoff with it."""
    commitment = get_commitment(reference)
    form = ReasonForm()
    if form.validate():
        reason = form.reason.data
        done, _ = attempt(
            form, services.cancel_commitment, commitment, current_user, utcnow(), reason
        )
        if done:
            return _back_to(commitment)
    return _refused(commitment, "commitments/_owner_actions.html", cancel_form=form)


@bp.post("/commitments/<reference>/steps")
def add_step(reference: str):
    """The owner side adds a department to the route."""
    commitment = get_commitment(reference)
    refused = owner_refusal(current_user, commitment)
    if refused:
        raise NotAllowed(refused)  # before reading anything sent: who asks comes first
    form = _step_form(commitment)
    department = None
    if form.validate():
        department = db.session.get(Department, form.department_id.data)
        if department is None:
            form.department_id.errors = ["Pick a department from the list."]
    if department is not None:
        step = services.RouteStep(department, form.ask.data, from_local(form.due_at.data))
        done, _ = attempt(form, services.add_step, commitment, current_user, utcnow(), step)
        if done:
            return _back_to(commitment)
    commitment = get_commitment(reference)
    return _refused(commitment, "commitments/_owner_actions.html", step_form=form)


def _back_to(commitment: Commitment):
    """To the commitment's page: a redirect, or for htmx a full-page HX-Redirect."""
    target = url_for("commitments.show", reference=commitment.reference)
    if htmx:
        response = current_app.response_class(status=204)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target, 303)


# --- answering a handoff -----------------------------------------------------------------


@bp.post("/handoffs/<int:handoff_id>/<action>")
@reads_first
def answer(handoff_id: int, action: str):
    """Answer a handoff (accept, counter, decline …); htmx swaps the row in place."""
    if action not in ANSWERS:
        abort(404)
    handoff = db.get_or_404(Handoff, handoff_id)
    refused = refusal(current_user, handoff, ANSWERS[action])
    if refused:
        raise NotAllowed(refused)  # before reading anything sent: who asks comes first
    given = ANSWERS[action].action
    form = ANSWER_FORMS[given]()
    view = request.form.get("view", "commitment")
    if not form.validate():
        return _handoff_row(handoff, view, 422, forms={action: form})
    try:
        outcome = services.give_answer(handoff, given, current_user, utcnow(), **form.answer())
    except InvalidTransition:
        db.session.rollback()
        handoff = db.get_or_404(Handoff, handoff_id)
        return _handoff_row(handoff, view, 409, notice=_already(handoff))
    except InvalidInput as error:
        db.session.rollback()
        show_refusal(form, error)
        return _handoff_row(db.get_or_404(Handoff, handoff_id), view, 422, forms={action: form})
    commit_writes()
    if not outcome.changed:
        return _handoff_row(outcome.handoff, view, 200, notice=_already(outcome.handoff))
    if not wants_fragment():
        if view == "inbox":
            return redirect(url_for("inbox.show", department_id=handoff.department_id), 303)
        return redirect(url_for("commitments.show", reference=handoff.commitment.reference), 303)
    return _handoff_row(outcome.handoff, view, 200, trigger="handoff-changed")


def _already(handoff: Handoff) -> str:
    """'Already accepted by Ana Ruiz at Tue 12 May 10:42' — what happened first."""
    at = format_when(handoff.changed_at)
    return f"Already {handoff.state} by {handoff.changed_by.name} at {at}. Nothing was changed."


def _handoff_row(handoff: Handoff, view: str, status: int, notice=None, forms=None, trigger=None):
    # the card as the inbox shows it: one read of rows, not the entities again with their
    # relations (after a commit, every one of them would be read anew)
    (ident,) = sa_inspect(handoff).identity  # (without reading the expired entity again)
    card = handoff_cards([ident]).get(ident) or abort(404)
    context = {
        "handoff": card,
        "commitment": card.commitment,
        "answers": answers_by_handoff(current_user, [card]),
        "view": view,
        "notice": notice,
        "forms": forms or {},
    }
    return render(
        "commitments/handoff_page.html", "commitments/_handoff.html", status, trigger, **context
    )
