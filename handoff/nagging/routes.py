"""The page a reminder's link opens: it shows and asks (GET); only the POST acts."""

from datetime import timedelta

from flask import Blueprint, g, render_template, request
from flask_login import current_user

from handoff.accounts.models import Person
from handoff.commitments import services
from handoff.commitments.answers import ANSWERS, OWNER_SIDE, answers_for, answers_open
from handoff.commitments.forms import ANSWER_FORMS
from handoff.commitments.lifecycle import InvalidTransition
from handoff.commitments.models import Handoff
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, reads_first
from handoff.kernel.errors import InvalidInput
from handoff.nagging.links import LinkExpired, LinkInvalid, read_token
from handoff.web import show_refusal

bp = Blueprint("nagging", __name__)


def _problem(status: int, title: str, message: str):
    return render_template("nagging/link_problem.html", title=title, message=message), status


@bp.route("/act/<token>", methods=["GET", "POST"])
@reads_first
def act(token: str):
    """Confirm an answer from a reminder mail, as the person the mail was written for."""
    try:
        claim = read_token(token)
    except LinkExpired:
        return _problem(
            410,
            "This link has expired",
            "Links in reminders work for a limited time. Open the commitment from the board "
            "(sign in first) to answer it there. Nothing was changed.",
        )
    except LinkInvalid:
        return _problem(
            400,
            "This link is not valid",
            "It may have been cut short or altered. Open the commitment from the board "
            "instead. Nothing was changed.",
        )
    handoff = db.get_or_404(Handoff, claim.handoff_id)
    person = db.session.get(Person, claim.person_id)
    if person is None or not person.active:
        return _problem(403, "This link's account is closed", "Nothing was changed.")
    # The link acts for the person it was sent to; when someone else is signed in in this
    # browser, the answer can only ever be theirs, and only where they may give it.
    acting = person
    if current_user.is_authenticated and current_user.id != person.id:
        acting = db.session.get(Person, current_user.id)
    g.reader_time_zone = acting.time_zone  # times as the reader sees them
    stale = abs(handoff.changed_at - claim.written_for) > timedelta(seconds=1)
    possible = [answer.name for answer in answers_open(handoff) if answer.by_mail]
    allowed = [answer.name for answer in answers_for(acting, handoff) if answer.by_mail]
    chosen = request.values.get("do", "")
    settles = bool(possible) and ANSWERS[possible[0]].by == OWNER_SIDE
    context = {
        # who may give the answers open now, for a reader who may not
        "who_answers": (
            f"only {handoff.commitment.owner_department.name} settles a counter"
            if settles
            else f"only members of {handoff.department.name} answer it"
        ),
        "handoff": handoff,
        "commitment": handoff.commitment,
        "person": person,
        "acting": acting,
        "possible": possible,
        "token": token,
        "stale": stale,
        "allowed": [] if stale else allowed,
        "chosen": chosen if chosen in allowed else (allowed[0] if allowed else ""),
        "forms": {},
        "done": None,
    }
    if request.method in ("GET", "HEAD"):
        return render_template("nagging/act.html", **context)

    action = request.form.get("action", "")
    if not stale and action not in possible:
        what = ANSWERS[action].label.lower() if action in ANSWERS else "that"
        return _problem(
            409,
            "Not an answer it takes now",
            f"{handoff.department.name}'s part is {handoff.state}: “{what}” is not an answer "
            "it can be given now. Nothing was changed.",
        )
    if not stale and action not in allowed:
        context["allowed"] = []
        return render_template("nagging/act.html", **context), 403
    if stale or action not in allowed:
        # answered (or countered) since the mail was written: say what happened instead
        context["stale"] = True
        context["allowed"] = []
        return render_template("nagging/act.html", **context), 409
    given = ANSWERS[action].action
    form = ANSWER_FORMS[given]()
    if not form.validate():
        context["forms"] = {action: form}
        context["chosen"] = action
        return render_template("nagging/act.html", **context), 422
    try:
        services.give_answer(handoff, given, acting, utcnow(), **form.answer())
    except InvalidTransition:
        db.session.rollback()
        context.update(stale=True, allowed=[], handoff=db.session.get(Handoff, claim.handoff_id))
        return render_template("nagging/act.html", **context), 409
    except InvalidInput as error:
        db.session.rollback()
        show_refusal(form, error)
        context["forms"] = {action: form}
        context["chosen"] = action
        return render_template("nagging/act.html", **context), 422
    db.session.commit()
    context.update(done=action, allowed=[], stale=False)
    return render_template("nagging/act.html", **context)
