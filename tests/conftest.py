"""Fixtures: an app on a fresh, migrated database (SQLite, or PostgreSQL when asked), factories."""

import os
import shutil
import time
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade

from handoff import create_app
from handoff.accounts.models import Person
from handoff.commitments import services
from handoff.customers.models import Customer
from handoff.departments.models import Department, Membership
from handoff.kernel.db import db, transaction

PG_ENV = "HANDOFF_TEST_DATABASE_URL"
PASSWORD = "correct horse battery"


def pytest_report_header(config):
    url = os.environ.get(PG_ENV)
    return (
        f"database: {'PostgreSQL ' + url if url else 'SQLite (set ' + PG_ENV + ' for PostgreSQL)'}"
    )


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_template(tmp_path_factory):
    """A migrated database made once per session: a SQLite file to copy, or a PostgreSQL URL."""
    pg_url = os.environ.get(PG_ENV)
    if pg_url:
        target = empty_pg_database(pg_url, f"handoff_test_{_worker()}")
        _migrate(target)
        _commit_without_waiting_for_the_disk(target)
        yield {"kind": "postgresql", "url": target}
        return
    path = tmp_path_factory.mktemp("template") / "template.db"
    _migrate(f"sqlite:///{path}")
    yield {"kind": "sqlite", "path": path}


def empty_pg_database(server_url: str, name: str, drop: bool = False) -> str:
    """A PostgreSQL database called `name` on that server, made anew and empty (or, with
    `drop`, gone); answer its URL."""
    url = sa.make_url(server_url)
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    admin.dispose()
    return url.set(database=name).render_as_string(hide_password=False)


def _migrate(url: str) -> None:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        upgrade(directory=app.root_path + "/migrations")
        db.engine.dispose()


@pytest.fixture
def database_url(database_template, tmp_path):
    """A fresh database for one test."""
    if database_template["kind"] == "sqlite":
        path = tmp_path / "handoff.db"
        shutil.copy(database_template["path"], path)
        yield f"sqlite:///{path}"
        return
    url = database_template["url"]
    yield url
    _empty_every_table(url)


def _commit_without_waiting_for_the_disk(url: str) -> None:
    """A test database's commits return before the disk has them (a millisecond each, most of
    a test's time on PostgreSQL otherwise); nothing of a test needs to outlive a power cut."""
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        name = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.exec_driver_sql(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    engine.dispose()


def _empty_every_table(url: str) -> None:
    """Every table emptied and every sequence back at 1, as a fresh database: a DELETE of the
    tables the test wrote to, children before parents, which takes a few milliseconds where a
    TRUNCATE of every table took nearly half a second a test. Like TRUNCATE, it first waits
    for whatever still writes (a server's thread, a stopped process's transaction)."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = set(
            conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            ).scalars()
        )
        order = [t.name for t in reversed(db.metadata.sorted_tables) if t.name in tables]
        order += sorted(tables - set(order))
        full: list[str] = []
        if order:
            every = ", ".join(f'"{t}"' for t in order)
            conn.exec_driver_sql(f"LOCK TABLE {every} IN EXCLUSIVE MODE")
            written = " UNION ALL ".join(
                f"SELECT '{t}' WHERE EXISTS (SELECT 1 FROM \"{t}\")" for t in order
            )
            full = [t for t in order if t in set(conn.exec_driver_sql(written).scalars())]
            for table in full:
                conn.exec_driver_sql(f'DELETE FROM "{table}"')
        conn.exec_driver_sql(
            "SELECT setval(c.oid, 1, false) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind = 'S' AND n.nspname = 'public'"
        )
    if full:
        # and the planner told they are empty (no pages, no rows), as TRUNCATE left them: with
        # the size a test before left, PostgreSQL once planned a query a test reads otherwise
        # (a VACUUM of a few small tables: about 1 ms)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM " + ", ".join(f'"{t}"' for t in full))
    engine.dispose()


@pytest.fixture
def pg_url(database_url):
    """The test's database, for tests of several processes sharing one: PostgreSQL's case."""
    if not database_url.startswith("postgresql"):
        pytest.skip("several processes sharing one database is PostgreSQL's case")
    return database_url


@pytest.fixture
def app_factory(database_url):
    """Build apps on this test's database (several share it, e.g. to test CSRF)."""
    made = []

    def make(**overrides):
        config = {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "test-secret",
            "DEFAULT_TIME_ZONE": "Europe/Berlin",
        }
        config.update(overrides)
        application = create_app(config)
        made.append(application)
        return application

    yield make
    for application in made:
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture
def app(app_factory):
    application = app_factory()
    with application.app_context():
        yield application
        db.session.remove()


@pytest.fixture
def web_app(app_factory):
    """The app that serves the test client's requests.

    It is a second app on the same database: Flask reuses an app context that is already
    pushed for the same app, so requests served by `app` would share the test's session and
    `g`. With their own app, each request gets a fresh context, as in production.
    """
    return app_factory()


@pytest.fixture
def client(web_app, app):
    return web_app.test_client()


@pytest.fixture
def now():
    """A real 'now' (routes read the clock), rounded so assertions read well."""
    return datetime.now(UTC).replace(microsecond=0)


_HASH_CACHE: dict[str, str] = {}


# The test's own writes, the way the app does them (the kernel's write transaction).
writes = transaction


class Factory:
    """Makes the people, departments, customers and commitments a test needs."""

    def __init__(self, now: datetime):
        self.now = now
        self._count = 0

    def _next(self) -> int:
        self._count += 1
        return self._count

    def department(self, name: str | None = None) -> Department:
        with writes():
            department = Department(name=name or f"Department {self._next()}")
            db.session.add(department)
        return department

    def person(
        self,
        name: str | None = None,
        *,
        member_of=(),
        lead_of=(),
        admin: bool = False,
        email: str | None = None,
    ) -> Person:
        number = self._next()
        name = name or f"Person {number}"
        person = Person(
            name=name,
            email=email or f"{name.lower().replace(' ', '.')}.{number}@example.com",
            is_admin=admin,
            time_zone="Europe/Berlin",
        )
        # Werkzeug's default hash is slow on purpose: hash the shared test password once.
        if PASSWORD not in _HASH_CACHE:
            person.set_password(PASSWORD)
            _HASH_CACHE[PASSWORD] = person.password_hash
        person.password_hash = _HASH_CACHE[PASSWORD]
        with writes():
            db.session.add(person)
            for department in member_of:
                db.session.add(Membership(person=person, department=department, role="member"))
            for department in lead_of:
                db.session.add(Membership(person=person, department=department, role="lead"))
        return person

    def customer(self, name: str | None = None, **fields) -> Customer:
        number = self._next()
        customer = Customer(
            name=name or f"Customer {number}",
            email=fields.get("email", f"customer{number}@mail.example"),
            phone=fields.get("phone", f"+49 30 5555 {number:03d}"),
            account_ref=fields.get("account_ref", f"A-{90000 + number}"),
        )
        with writes():
            db.session.add(customer)
        return customer

    def commitment(
        self,
        *,
        by: Person,
        owner: Department,
        route: list[Department],
        customer: Customer | None = None,
        title: str = "Installation within 24 hours",
        due_in: timedelta = timedelta(days=3),
        at: datetime | None = None,
    ):
        at = at or self.now
        customer = customer or self.customer()
        with writes():
            return self._record(by, owner, route, customer, title, due_in, at)

    def _record(self, by, owner, route, customer, title, due_in, at):
        steps = [
            services.RouteStep(
                dept, f"Part of {dept.name}", at + due_in * (i + 1) / (len(route) + 1)
            )
            for i, dept in enumerate(route)
        ]
        return services.record_commitment(
            actor=by,
            customer=customer,
            title=title,
            details="",
            channel="phone",
            promised_at=at + due_in,
            owner_department=owner,
            route=steps,
            now=at,
        )


@pytest.fixture
def make(app, now):
    return Factory(now)


@pytest.fixture
def sign_in():
    """Sign a test client in as a person, without typing the password each time."""

    def do(client, person: Person | int):
        person_id = person if isinstance(person, int) else person.id
        with client.application.app_context():  # any thread: the client's own app reads it
            token = db.session.scalar(sa.select(Person.session_token).where(Person.id == person_id))
        with client.session_transaction() as session:
            session["_user_id"] = f"{person_id}:{token}:{int(time.time())}"
            session["_fresh"] = True
        return client

    return do


@pytest.fixture
def org(make):
    """A small organisation: Sales promises on behalf of Installation and Billing."""

    class Org:
        sales = make.department("Sales")
        installation = make.department("Installation")
        billing = make.department("Billing")
        ana = make.person("Ana Ruiz", lead_of=[sales])
        ben = make.person("Ben Okafor", lead_of=[installation])
        ivo = make.person("Ivo Berg", member_of=[installation])
        dev = make.person("Dev Patel", member_of=[billing])
        admin = make.person("Admin", admin=True)

    return Org


def set_ownership(*, owner_moves: bool = True, tell_minutes: int = 120):
    """The organisation's "you break it, you own it" setting, saved."""
    from handoff.ownership.models import OrganisationSettings

    settings = OrganisationSettings.current()
    settings.owner_moves = owner_moves
    settings.tell_customer_minutes = tell_minutes
    db.session.add(settings)
    db.session.commit()
    return settings


@pytest.fixture
def rule_off(app):
    """With "you break it, you own it" turned off: the promiser keeps the conversation."""
    return set_ownership(owner_moves=False)


@pytest.fixture
def count_queries(web_app):
    """Count the SQL statements the test client's requests run: `with count_queries() as q: …`."""
    with web_app.app_context():
        engine = db.engine

    @contextmanager
    def counting():
        statements: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
                statements.append(statement)

        sa.event.listen(engine, "before_cursor_execute", record)
        try:
            yield statements
        finally:
            sa.event.remove(engine, "before_cursor_execute", record)

    return counting


def htmx_headers(**extra) -> dict:
    """The headers htmx sends with a plain (not boosted) request."""
    return {"HX-Request": "true", **extra}


def fresh(thing):
    """`thing` read again from the database as other connections left it."""
    db.session.rollback()  # end this session's transaction, and with it its snapshot
    return db.session.get(type(thing), thing.id, populate_existing=True)
