"""Signing in and out."""

from datetime import UTC, datetime, timedelta
from functools import cache

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import bindparam, select
from sqlalchemy.orm import joinedload

from handoff.accounts import throttle
from handoff.accounts.forms import (
    ApiTokenForm,
    AwayForm,
    LoginForm,
    PasswordForm,
    ReminderForm,
    TimeZoneForm,
)
from handoff.accounts.models import Absence, Person
from handoff.api import tokens
from handoff.api.models import SCOPES, ApiToken
from handoff.departments import away
from handoff.departments.models import Membership
from handoff.extensions import htmx, login_manager
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import is_valid_zone
from handoff.kernel.db import db
from handoff.kernel.forms import database_id
from handoff.web import attempt, safe_next, zone_named

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = "Sign in to see the board."
login_manager.login_message_category = "info"


MAX_NEXT = 2000  # characters of the address to come back to after signing in
CLOCK_SKEW = timedelta(minutes=5)  # between the web processes that sign in and read cookies


@login_manager.user_loader
def _load_person(cookie_id: str) -> Person | None:
    """The person a session or remember-me cookie names, if its token is still theirs, it was
    signed in at most REMEMBER_COOKIE_DURATION ago, and the account is open; anyone else is
    signed out."""
    person_id, token, signed_in = [*cookie_id.split(":", 2), "", ""][:3]
    try:
        person_id = database_id(person_id)
        signed_in = datetime.fromtimestamp(database_id(signed_in), UTC)
    except ValueError:
        return None
    now = utcnow()
    if not now - current_app.config["REMEMBER_COOKIE_DURATION"] <= signed_in <= now + CLOCK_SKEW:
        return None
    # Pages ask the signed-in person's departments often: load them with the person, in the
    # same query (one round trip for every page).
    person = (
        db.session.scalars(_person_statement(), {"person_id": person_id}).unique().one_or_none()
    )
    if person is None or not person.active or not person.holds(token):
        return None
    return person


@cache
def _person_statement():
    """The signed-in person with their memberships: built once, run with the id bound (every
    request asks it)."""
    return (
        select(Person)
        .where(Person.id == bindparam("person_id"))
        .options(joinedload(Person.memberships))
    )


@login_manager.unauthorized_handler
def _unauthorized():
    if htmx:
        # A fragment request from an expired session: send the whole window to sign in.
        response = redirect(url_for("accounts.login"))
        response.headers["HX-Redirect"] = url_for("accounts.login")
        return response
    back = request.full_path.rstrip("?")
    # (an address longer than any page's is not worth coming back to: no echo of it)
    return redirect(url_for("accounts.login", next=back if len(back) <= MAX_NEXT else None))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password; failures are throttled per account and per client."""
    form = LoginForm()
    if request.method in ("GET", "HEAD"):  # (a HEAD is a GET without the body: 200)
        form.next.data = request.args.get("next", "")
        return render_template("accounts/login.html", form=form, error=None)
    if not form.validate_on_submit():
        return render_template("accounts/login.html", form=form, error=None), 422
    wait = throttle.admit(form.email.data, utcnow())
    if wait:
        page = render_template("accounts/login.html", form=form, error=wait.message)
        return page, 429, {"Retry-After": str(wait.seconds)}
    person = Person.by_email(form.email.data)
    if person and person.active and person.check_password(form.password.data):
        throttle.succeeded(form.email.data)
        if is_valid_zone(form.time_zone.data) and not person.time_zone:
            person.time_zone = form.time_zone.data
        db.session.commit()
        login_user(person, remember=form.remember.data)
        response = redirect(safe_next(form.next.data) or url_for("board.index"))
        return throttle.remember_browser(response, form.email.data)
    if person is None or not person.active:
        Person.check_no_password(form.password.data)  # as long as a real check: no hint
    error = "That email and password do not match an active account."  # (counted by admit)
    return render_template("accounts/login.html", form=form, error=error), 422


@bp.post("/logout")
@login_required
def logout():
    """Sign out: this session and every other one of this person, remember-me cookies too."""
    person = db.session.get(Person, current_user.id)
    person.end_sessions()
    db.session.commit()
    logout_user()
    flash("You are signed out, on every device.")
    return redirect(url_for("accounts.login"), 303)


@bp.get("/me")
@login_required
def me():
    """Who am I: name, departments, time zone, how reminders reach me."""
    return _me_page(ReminderForm(digest_mode=current_user.digest_mode), PasswordForm(), 200)


def _me_page(
    form: ReminderForm,
    password_form: PasswordForm,
    status: int,
    zone_form=None,
    token_form=None,
    new_secret: str | None = None,
):
    zone = current_user.time_zone or current_app.config["DEFAULT_TIME_ZONE"]
    return (
        render_template(
            "accounts/me.html",
            person=current_user,
            form=form,
            password_form=password_form,
            zone=zone,
            zone_form=zone_form or TimeZoneForm(formdata=None, time_zone=zone),
            token_form=token_form or ApiTokenForm(formdata=None),
            api_tokens=tokens.open_tokens(current_user, utcnow()),
            new_secret=new_secret,
            scopes=SCOPES,
        ),
        status,
    )


@bp.post("/me/tokens")
@login_required
def create_token():
    """Make a personal API token: its secret is shown on this page, once."""
    form = ApiTokenForm()
    reminders = ReminderForm(formdata=None, digest_mode=current_user.digest_mode)
    if not form.validate():
        return _me_page(reminders, PasswordForm(formdata=None), 422, token_form=form)
    person = db.session.get(Person, current_user.id)
    done, made = attempt(
        form,
        tokens.create_token,
        person,
        name=form.name.data,
        scope=form.scope.data,
        days=form.lifetime(),
        now=utcnow(),
    )
    if not done:
        return _me_page(reminders, PasswordForm(formdata=None), 422, token_form=form)
    _, secret = made
    return _me_page(reminders, PasswordForm(formdata=None), 201, new_secret=secret)


@bp.post("/me/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int):
    """Revoke one of my tokens: whatever uses it is refused from now on."""
    if db.session.get(ApiToken, token_id) is None:
        abort(404)
    token = tokens.revoke_token(current_user, token_id, utcnow())
    db.session.commit()
    flash(f"The token “{token.name}” is revoked.")
    return redirect(url_for("accounts.me", _anchor="api-tokens"), 303)


@bp.post("/me/time-zone")
@login_required
def time_zone():
    """Choose the time zone every moment is shown in."""
    form = TimeZoneForm()
    if not form.validate():
        reminders = ReminderForm(formdata=None, digest_mode=current_user.digest_mode)
        return _me_page(reminders, PasswordForm(formdata=None), 422, zone_form=form)
    person = db.session.get(Person, current_user.id)
    person.time_zone = form.time_zone.data
    db.session.commit()
    flash(f"Times are now shown in {person.time_zone}.")
    return redirect(url_for("accounts.me"), 303)


@bp.post("/me/reminders")
@login_required
def reminders():
    """Choose how reminders reach me: as they come, or in one morning digest."""
    form = ReminderForm()
    if not form.validate():
        return _me_page(form, PasswordForm(formdata=None), 422)
    person = db.session.get(Person, current_user.id)
    person.digest_mode = form.digest_mode.data
    db.session.commit()
    flash(
        "Your reminders now come in one morning digest."
        if person.digest_mode == "morning"
        else "Your reminders now come as things happen."
    )
    return redirect(url_for("accounts.me"), 303)


@bp.post("/me/password")
@login_required
def password():
    """Change my password: this session goes on, every other one (and remember-me) ends."""
    form = PasswordForm()
    person = db.session.get(Person, current_user.id)
    if form.validate():
        wait = throttle.admit(person.email, utcnow())
        if wait:  # guessing the current password is throttled like signing in
            form.current.errors.append(wait.message)
            page, _ = _me_page(ReminderForm(digest_mode=person.digest_mode), form, 429)
            return page, 429, {"Retry-After": str(wait.seconds)}
        if person.check_password(form.current.data):
            throttle.succeeded(person.email)
            person.set_password(form.new.data)
            db.session.commit()
            login_user(person)  # this session carries the new token; the others are over
            flash("Your password is changed. You were signed out everywhere else.")
            return redirect(url_for("accounts.me"), 303)
        form.current.errors.append("That is not your current password.")  # (counted by admit)
    return _me_page(ReminderForm(digest_mode=person.digest_mode), form, 422)


def _markable() -> list[tuple[int, str]]:
    """Whom the signed-in person may mark away: themselves, the people of the departments
    they lead, anyone for an admin; by name."""
    query = select(Person.id, Person.name).where(Person.active.is_(True))
    if not current_user.is_admin:
        led = [m.department_id for m in current_user.memberships if m.role == "lead"]
        colleagues = select(Membership.person_id).where(Membership.department_id.in_(led or [-1]))
        query = query.where((Person.id == current_user.id) | Person.id.in_(colleagues))
    people = db.session.execute(query.order_by(Person.name, Person.id)).all()
    mine = [p for p in people if p.id == current_user.id]
    return mine + [p for p in people if p.id != current_user.id]


def _delegates() -> list[tuple[int, str]]:
    """Who may answer for someone away: anyone whose account is open, by name."""
    return db.session.execute(
        select(Person.id, Person.name).where(Person.active.is_(True)).order_by(Person.name)
    ).all()


def _away_page(form: AwayForm, status: int = 200):
    now = utcnow()
    absences = away.absences_shown_to(current_user, now)
    changeable = {a.id for a in absences if away.may_mark_away(current_user, a.person)}
    return (
        render_template(
            "accounts/away.html",
            form=form,
            absences=absences,
            changeable=changeable,
            now=now,
            may_mark_others=len(form.person_id.choices) > 1,
        ),
        status,
    )


@bp.get("/away")
@login_required
def away_page():
    """Who is away, now and soon, and a form to mark someone away."""
    today = utcnow().astimezone(_zone_of(current_user)).date()
    form = AwayForm(
        _markable(),
        _delegates(),
        formdata=None,
        person_id=current_user.id,
        first_day=today,
        last_day=today,
    )
    return _away_page(form)


def _zone_of(person: Person):
    """The time zone a person's days are counted in: their own, or the organisation's."""
    return zone_named(person.time_zone) or zone_named(current_app.config["DEFAULT_TIME_ZONE"])


@bp.post("/away")
@login_required
def mark_away():
    """Mark someone away from a first to a last day, with a delegate who answers meanwhile."""
    form = AwayForm(_markable(), _delegates())
    if not form.validate():
        return _away_page(form, 422)
    person = db.session.get(Person, form.person_id.data)
    delegate = db.session.get(Person, form.delegate_id.data) if form.delegate_id.data else None
    done, absence = attempt(
        form,
        away.mark_away,
        person,
        first_day=form.first_day.data,
        last_day=form.last_day.data,
        delegate=delegate,
        note=form.note.data or "",
        actor=current_user,
        zone=_zone_of(person),
        now=utcnow(),
    )
    if not done:
        return _away_page(form, 422)
    now = utcnow()
    you = person.id == current_user.id
    if absence.covers(now):
        whom = "You are" if you else f"{person.name} is"
    else:
        whom = "You will be" if you else f"{person.name} will be"
    answers = f"; {delegate.name} answers meanwhile" if delegate else ""
    flash(f"{whom} away {away.span(absence)}{answers}.")
    return redirect(url_for("accounts.away_page"), 303)


@bp.post("/away/<int:absence_id>/end")
@login_required
def end_away(absence_id: int):
    """Someone is back early, or will not be away after all."""
    absence = db.get_or_404(Absence, absence_id)
    whom = "You are" if absence.person_id == current_user.id else f"{absence.person.name} is"
    away.end_absence(absence, current_user, _zone_of(absence.person), utcnow())
    db.session.commit()
    flash(f"{whom} no longer marked away.")
    return redirect(url_for("accounts.away_page"), 303)
