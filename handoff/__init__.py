"""Handoff: internal handoffs of customer commitments."""

from flask import Flask, render_template, request, send_from_directory, session, url_for
from flask_wtf.csrf import CSRFError
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from handoff import observability
from handoff.api.problems import ApiProblem, is_api_request, problem_response
from handoff.config import Config
from handoff.extensions import csrf, htmx, limiter, login_manager, migrate
from handoff.kernel.clock import utcnow
from handoff.kernel.dates import format_relative
from handoff.kernel.db import SQLiteConnection, db, end_session
from handoff.metrics import busy_answer
from handoff.web import (
    DatabaseIdConverter,
    format_when,
    local_input,
    row_url,
    to_local,
    wants_fragment,
)

# The forms that take a file, by endpoint, and the field it comes in.
TAKES_FILES = {"nagging_admin.holidays_preview": {"calendar"}, "admin.people_preview": {"people"}}

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)


def create_app(overrides: dict | None = None) -> Flask:
    """Build the application: configuration, extensions, blueprints, CLI."""
    app = Flask(__name__, template_folder="../templates", static_folder="../static")
    app.config.from_object(Config())
    if overrides:
        app.config.update(overrides)
    _bound_waits(app)
    if app.config["PROXY_COUNT"]:
        hops = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)

    db.init_app(app)
    app.teardown_appcontext(end_session)  # runs before Flask-SQLAlchemy's own, which then has
    # nothing left to close
    migrate.init_app(app, db, directory=str(app.root_path + "/migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)

    @app.after_request  # (runs after the limiter's, which sets Retry-After on every answer)
    def _retry_after_only_when_refused(response):
        if response.status_code not in (429, 503):
            response.headers.pop("Retry-After", None)
        return response

    limiter.init_app(app)
    _register_models()
    from handoff import reactions

    reactions.install()
    from handoff.api.tokens import forget_old_answers
    from handoff.insights.weekly import write_weekly_reports
    from handoff.webhooks.services import deliver_webhooks

    # what a nagger's round does besides reminders and mail: each department's last week,
    # mailed to its leads once; what webhooks are owed; idempotency keys past their day
    app.extensions["handoff.round_jobs"] = [
        write_weekly_reports,
        deliver_webhooks,
        forget_old_answers,
    ]
    app.url_map.converters["int"] = DatabaseIdConverter  # before any route is added
    _register_blueprints(app)
    _register_icon(app)
    _register_templating(app)
    _register_errors(app)
    _register_headers(app)
    observability.install(app)

    from handoff.cli import register_cli

    register_cli(app)
    return app


def _bound_waits(app: Flask) -> None:
    """On PostgreSQL, no request waits long for a lock, and no stalled process holds one long;
    on SQLite, writers take turns without sleeping (kernel.db.SQLiteConnection)."""
    uri = app.config["SQLALCHEMY_DATABASE_URI"]
    options = dict(app.config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    connect_args = dict(options.get("connect_args") or {})
    if uri.startswith("sqlite"):
        connect_args.setdefault("factory", SQLiteConnection)
        options["connect_args"] = connect_args
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options
    if not uri.startswith("postgresql"):
        return
    connect_args.setdefault(
        "options",
        f"-c lock_timeout={app.config['DB_LOCK_TIMEOUT_MS']} "
        f"-c idle_in_transaction_session_timeout={app.config['DB_IDLE_IN_TRANSACTION_MS']}",
    )
    connect_args.setdefault("connect_timeout", app.config["DB_CONNECT_TIMEOUT_S"])
    options["connect_args"] = connect_args
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = options


def _register_models() -> None:
    from handoff.accounts import models as _accounts  # noqa: F401
    from handoff.commitments import models as _commitments  # noqa: F401

    # the words of each concept's timeline entries
    from handoff.commitments import timeline as _commitment_words  # noqa: F401
    from handoff.customers import models as _customers  # noqa: F401
    from handoff.departments import hours as _hours  # noqa: F401
    from handoff.departments import models as _departments  # noqa: F401
    from handoff.insights import models as _insights  # noqa: F401
    from handoff.mail import OutboxMessage as _outbox  # noqa: F401
    from handoff.nagging import models as _nagging  # noqa: F401
    from handoff.nagging import replies as _replies  # noqa: F401
    from handoff.nagging import timeline as _reminder_words  # noqa: F401
    from handoff.ownership import models as _ownership  # noqa: F401
    from handoff.ownership import timeline as _ownership_words  # noqa: F401
    from handoff.promises import models as _promises  # noqa: F401
    from handoff.webhooks import models as _webhooks  # noqa: F401


def _register_blueprints(app: Flask) -> None:
    from handoff.accounts.routes import bp as accounts
    from handoff.admin.routes import bp as admin
    from handoff.api.routes import bp as api
    from handoff.board.routes import bp as board
    from handoff.commitments.routes import bp as commitments
    from handoff.customers.routes import bp as customers
    from handoff.inbox.routes import bp as inbox
    from handoff.insights.routes import bp as insights
    from handoff.lookup.routes import bp as lookup
    from handoff.nagging.admin import bp as nagging_admin
    from handoff.nagging.routes import bp as nagging
    from handoff.ownership.routes import bp as ownership
    from handoff.promises.routes import bp as promises
    from handoff.webhooks.routes import bp as webhooks

    blueprints = (accounts, admin, board, commitments, customers, inbox, lookup, nagging, promises)
    for blueprint in (*blueprints, nagging_admin, ownership, insights, api, webhooks):
        app.register_blueprint(blueprint)


def _register_icon(app: Flask) -> None:
    """/favicon.ico, for what asks for it without reading a page's icon link (the pages name
    static/favicon.svg): the same picture, not a 404 in the console."""

    @app.get("/favicon.ico")
    def favicon():
        return send_from_directory(app.static_folder, "favicon.svg", mimetype="image/svg+xml")


def _register_templating(app: Flask) -> None:
    """Filters and names every template may use: how moments are written, and the domain's
    constants. What a page shows is computed by its route, never asked for by a template."""
    from handoff.commitments.models import CHANNELS
    from handoff.commitments.status import Status

    app.jinja_env.filters["when"] = format_when
    app.jinja_env.filters["local"] = to_local
    app.jinja_env.filters["local_input"] = local_input
    app.jinja_env.globals.update(
        relative=format_relative, row_url=row_url, Status=Status, CHANNELS=CHANNELS
    )

    @app.context_processor
    def _now():
        return {"now": utcnow(), "refresh_seconds": app.config["REFRESH_SECONDS"]}


def _register_errors(app: Flask) -> None:
    from handoff.commitments.lifecycle import InvalidTransition
    from handoff.kernel.errors import Conflict, InvalidInput, NotAllowed

    def problem(
        status: int,
        title: str,
        message: str,
        headers: dict | None = None,
        code: str | None = None,
        errors=(),
    ):
        try:
            db.session.rollback()  # whatever the failed request had begun is thrown away
        except SQLAlchemyError:
            end_session()  # the connection itself is gone: the pool gives a fresh one
        if is_api_request(request.path):  # the API answers problem details, not a page
            return problem_response(status, title, message, code, errors, headers)
        template = "errors/_problem.html" if wants_fragment() else "errors/problem.html"
        body = render_template(template, status=status, title=title, message=message)
        return body, status, {"Vary": "HX-Request", **(headers or {})}

    @app.errorhandler(OperationalError)
    @app.errorhandler(InternalError)
    @app.errorhandler(InterfaceError)
    @app.errorhandler(SQLAlchemyTimeoutError)
    def _busy(error):
        # A row someone else holds past the lock timeout, a database that dropped the
        # connection or cut off an idle transaction, a pool with no connection to spare:
        # nothing was changed, and the next try will most likely work.
        app.logger.warning("busy or unreachable database: %s", error)
        busy_answer(error)
        try:
            db.session.rollback()
        except SQLAlchemyError:
            end_session()
        if is_api_request(request.path):
            return problem_response(
                503,
                "Busy, try again",
                "Someone else is changing this right now, or the database is briefly out of "
                "reach. Nothing was changed: try again in a moment.",
                headers={"Retry-After": "2"},
            )
        # rendered without the database (no signed-in person, no menu): it may be the cause
        template = "errors/_problem.html" if wants_fragment() else "errors/busy.html"
        # (the template alone: the context processors would load the signed-in person)
        body = app.jinja_env.get_template(template).render(
            url_for=url_for,
            request=request,
            title="Busy, try again",
            message="Someone else is changing this right now, or the database is briefly out "
            "of reach. Nothing was changed: try again in a moment.",
        )
        return body, 503, {"Vary": "HX-Request", "Retry-After": "2"}

    @app.errorhandler(DataError)
    def _data(error):
        # A value the database refuses (out of range, too long) that no check caught first.
        app.logger.warning("refused by the database as data: %s", error.orig)
        return problem(
            400,
            "Not understood",
            "A value was too long or out of range for what it is. Nothing was changed.",
        )

    @app.errorhandler(IntegrityError)
    def _integrity(error):
        # Two people saving the same new thing at once (a department name, an email): the
        # database kept the first; the second is told, and nothing of it was saved.
        app.logger.info("refused by a database constraint: %s", error.orig)
        return problem(
            409,
            "Someone was first",
            "Someone else saved the same thing a moment ago. Nothing was changed: "
            "reload the page to see it, then try again.",
            code="someone_was_first",
        )

    @app.before_request
    def _refuse_what_no_page_sends():
        # Refused at the door, for every route at once, before anything is read or written:
        # a NUL character (PostgreSQL refuses it in text, and no person types one), and files
        # but where a form takes one (a field sent as a file would reach validators as an
        # object).
        if request.files and set(request.files) - TAKES_FILES.get(request.endpoint, set()):
            return problem(400, "Not understood", "This form takes no files. Nothing was changed.")
        values = [request.path, *request.args.values(), *request.form.values()]
        values += [*request.args.keys(), *request.form.keys()]
        if any("\x00" in value for value in values):
            return problem(
                400,
                "Not understood",
                "The request held a NUL character, which no text may contain. Nothing was changed.",
            )
        return None

    @app.errorhandler(CSRFError)
    def _csrf(error):
        return problem(
            400,
            "Your form expired",
            "The security token was missing or out of date. Nothing was changed. "
            "Reload the page and try again.",
        )

    @app.errorhandler(NotAllowed)
    def _not_allowed(error):
        return problem(403, "Not allowed", f"{error} Nothing was changed.")

    @app.errorhandler(InvalidTransition)
    def _invalid_transition(error):
        return problem(
            409, "Already answered", f"{error}. Nothing was changed.", code="already_answered"
        )

    @app.errorhandler(Conflict)
    def _conflict(error):
        return problem(409, "Not now", f"{error} Nothing was changed.")

    @app.errorhandler(InvalidInput)
    def _invalid_input(error):
        errors = [{"field": error.field, "message": str(error)}]
        return problem(422, "Not saved", f"{error} Nothing was changed.", errors=errors)

    @app.errorhandler(ApiProblem)
    def _api_problem(error):
        return problem(
            error.status, error.title, error.detail, error.headers, error.code, error.errors
        )

    @app.errorhandler(HTTPException)
    def _http(error):
        messages = {
            403: "You may not do this. Nothing was changed.",
            404: f"There is nothing at {request.path}. It may have been mistyped.",
            405: "This address does not take that kind of request.",
        }
        message = messages.get(error.code, error.description)
        if is_api_request(request.path) and error.code in (404, 429):
            message = error.description  # what exactly was not found, or the limit
        headers = dict(error.get_headers()) if error.code in (405, 429) else {}
        headers.pop("Content-Type", None)
        return problem(error.code, error.name, message, headers)


def _register_headers(app: Flask) -> None:
    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")  # (CSP says so to newer ones)
        response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        personal = request.endpoint == "nagging.act"  # a reminder link's page is its reader's
        if request.endpoint != "static" and ("_user_id" in session or personal):
            # a signed-in page is that person's: never kept by a browser or a proxy (read from
            # the session, not the database, which may be the reason this response is a 503)
            response.headers["Cache-Control"] = "no-store"
        if request.is_secure or app.config["SESSION_COOKIE_SECURE"]:
            response.headers.setdefault(
                "Strict-Transport-Security", "max-age=31536000; includeSubDomains"
            )
        return response
