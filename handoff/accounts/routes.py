"""Signing in and out."""

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from handoff.accounts.forms import LoginForm, ReminderForm
from handoff.accounts.models import Person
from handoff.extensions import db, login_manager
from handoff.web import is_valid_zone, safe_next

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = "Sign in to see the board."
login_manager.login_message_category = "info"


@login_manager.user_loader
def _load_person(person_id: str) -> Person | None:
    # Pages ask the signed-in person's departments often: load them with the person.
    return db.session.scalar(
        select(Person).where(Person.id == int(person_id)).options(selectinload(Person.memberships))
    )


@login_manager.unauthorized_handler
def _unauthorized():
    from handoff.extensions import htmx

    if htmx:
        # A fragment request from an expired session: send the whole window to sign in.
        response = redirect(url_for("accounts.login"))
        response.headers["HX-Redirect"] = url_for("accounts.login")
        return response
    return redirect(url_for("accounts.login", next=request.full_path.rstrip("?")))


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with email and password."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
    error = None
    if form.validate_on_submit():
        person = Person.by_email(form.email.data)
        if person and person.active and person.check_password(form.password.data):
            if is_valid_zone(form.time_zone.data) and not person.time_zone:
                person.time_zone = form.time_zone.data
            db.session.commit()
            login_user(person, remember=form.remember.data)
            return redirect(safe_next(form.next.data) or url_for("board.index"))
        error = "That email and password do not match an active account."
    status = 422 if request.method == "POST" else 200
    return render_template("accounts/login.html", form=form, error=error), status


@bp.post("/logout")
@login_required
def logout():
    """Sign out."""
    logout_user()
    return redirect(url_for("accounts.login"))


@bp.get("/me")
@login_required
def me():
    """Who am I: name, departments, time zone, how reminders reach me."""
    form = ReminderForm(digest_mode=current_user.digest_mode)
    return render_template("accounts/me.html", person=current_user, form=form)


@bp.post("/me/reminders")
@login_required
def reminders():
    """Choose how reminders reach me: as they come, or in one morning digest."""
    form = ReminderForm()
    if not form.validate():
        return render_template("accounts/me.html", person=current_user, form=form), 422
    person = db.session.get(Person, current_user.id)
    person.digest_mode = form.digest_mode.data
    db.session.commit()
    flash(
        "Your reminders now come in one morning digest."
        if person.digest_mode == "morning"
        else "Your reminders now come as things happen."
    )
    return redirect(url_for("accounts.me"), 303)
