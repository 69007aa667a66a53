"""Build a realistic organisation of any size, fast, for the benchmarks.

    .venv/bin/python bench/generate.py --commitments 1000000 [--database-url URL] [--seed 7]

Years of history: about 2 handoffs, 3 timeline entries, 1 comment and 2 reminder rows per
commitment; 20 to 100 departments; 0.3 customers per commitment (300,000 at a million);
about 10 % still open, most of those overdue; mail sent in the last month with its bodies,
older mail pruned to who, what, when and state (as the retention job leaves it).

The schema comes from the migrations; rows go in by bulk (SQLite: executemany with the
journal off; PostgreSQL: COPY), in chunks, with a progress bar. The database must be empty:
a SQLite file that does not exist yet, or a PostgreSQL database (with --fresh its tables are
dropped first). Everyone's password is `bench-password`; `lead@bench.example` leads the
first department and `admin@bench.example` is an admin.
"""

import argparse
import json
import multiprocessing
import os
import random
import sqlite3
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from flask_migrate import upgrade
from sqlalchemy import create_engine, text
from werkzeug.security import generate_password_hash

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from handoff import create_app
from handoff.commitments.lifecycle import State
from handoff.commitments.status import HandoffFacts, board_facts
from handoff.demo import FIRST, LAST
from handoff.kernel.db import db
from handoff.nagging.models import DEFAULTS

PASSWORD = "bench-password"
# The moment the history leads up to: now, unless --now says otherwise (set in main and in
# each worker process).
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
HISTORY_DAYS = 3 * 365
RETENTION_DAYS = 30
CHUNK = 20_000

WORK = [
    ("Wall mount", "Mount the screen on the customer's wall"),
    ("Router install", "Install and configure the router on site"),
    ("Fibre connection", "Connect the building to fibre"),
    ("Refund", "Refund the overcharged amount"),
    ("Credit note", "Issue a credit note for the missed day"),
    ("Payment plan", "Set up a payment plan over six months"),
    ("Express delivery", "Deliver the replacement by express"),
    ("Replacement unit", "Ship a replacement unit"),
    ("Site survey", "Survey the site before the installation"),
    ("Contract change", "Change the contract to the business plan"),
    ("Firmware update", "Update the firmware remotely"),
    ("Repair visit", "Send a technician to repair the unit"),
    ("Cable pull", "Pull a new cable to the second floor"),
    ("Loan device", "Lend a device until the repair is done"),
    ("Price match", "Match the competitor's price"),
    ("Callback", "Call the customer back with the answer"),
]
DEPARTMENT_WORDS = [
    "Sales",
    "Installation",
    "Billing",
    "Shipping",
    "Support",
    "Field",
    "Finance",
    "Legal",
]
DEPARTMENT_WORDS += [
    "Warehouse",
    "Procurement",
    "Quality",
    "Returns",
    "Onboarding",
    "Network",
    "Credit",
]
CHANNELS = ["phone", "email", "in_person", "web", "chat"]


def sizes(commitments: int) -> dict:
    """How big the organisation around `commitments` commitments is."""
    departments = 20 if commitments <= 10_000 else 50 if commitments <= 100_000 else 100
    return {
        "departments": departments,
        "people_per_department": 8,
        "customers": max(100, int(commitments * 0.3)),
    }


class Progress:
    """A progress bar on stderr: what is being built, how far, how fast."""

    def __init__(self, label: str, total: int):
        self.label, self.total, self.done = label, total, 0
        self.started = time.perf_counter()
        self.shown = 0.0

    def add(self, count: int) -> None:
        self.done += count
        now = time.perf_counter()
        if now - self.shown > 0.5 or self.done >= self.total:
            self.shown = now
            share = self.done / self.total if self.total else 1
            bar = "#" * int(share * 30)
            rate = self.done / max(now - self.started, 1e-9)
            sys.stderr.write(
                f"\r{self.label:14} [{bar:30}] {self.done:>10,}/{self.total:,} {rate:>9,.0f}/s"
            )
            if self.done >= self.total:
                sys.stderr.write(f"  {now - self.started:.1f} s\n")
            sys.stderr.flush()


def _is_moment(column: str) -> bool:
    return column.endswith("_at") or column == "overdue_from"


def for_sqlite(columns: list[str], rows: list[tuple]) -> list[list]:
    """The rows as SQLAlchemy writes them to SQLite: moments as naive UTC text, facts as JSON
    (only the columns that hold those are looked at)."""
    moments = [i for i, name in enumerate(columns) if _is_moment(name)]
    documents = [i for i, name in enumerate(columns) if name == "data"]
    converted = []
    for row in rows:
        row = list(row)
        for i in moments:
            if row[i] is not None:
                row[i] = row[i].replace(tzinfo=None).isoformat(" ", "microseconds")
        for i in documents:
            row[i] = json.dumps(row[i])
        converted.append(row)
    return converted


class SqliteWriter:
    """Rows into a SQLite file by executemany, the journal off while it builds."""

    def __init__(self, path: str):
        self.connection = sqlite3.connect(path, isolation_level=None)
        self.connection.execute("PRAGMA journal_mode=OFF")
        self.connection.execute("PRAGMA synchronous=OFF")
        self.connection.execute("PRAGMA cache_size=-400000")
        self.connection.execute("PRAGMA foreign_keys=OFF")
        self.connection.execute("BEGIN")

    def put(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        self.write(table, columns, for_sqlite(columns, rows))

    def write(self, table: str, columns: list[str], rows: list) -> None:
        """Rows converted by `for_sqlite`."""
        marks = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"
        self.connection.executemany(statement, rows)

    def checkpoint(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.execute("BEGIN")

    def finish(self) -> None:
        self.connection.execute("COMMIT")
        self.connection.execute("PRAGMA journal_mode=WAL")
        self.connection.execute("ANALYZE")
        self.connection.close()


class PostgresWriter:
    """Rows into PostgreSQL by COPY."""

    def __init__(self, url: str):
        import psycopg

        self.connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        # the search indexes are built once at the end, not kept up row by row
        with self.connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'search\\_%'"
            )
            self.search_indexes = cursor.fetchall()
            for name, _ in self.search_indexes:
                cursor.execute(f"DROP INDEX {name}")
        self.connection.commit()

    def put(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        self.write(table, columns, rows)

    def write(self, table: str, columns: list[str], rows: list[tuple]) -> None:
        documents = [i for i, name in enumerate(columns) if name == "data"]
        statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        with self.connection.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                if documents:
                    row = list(row)
                    for i in documents:
                        row[i] = json.dumps(row[i])
                copy.write_row(row)

    def checkpoint(self) -> None:
        self.connection.commit()

    def finish(self) -> None:
        self.connection.commit()
        with self.connection.cursor() as cursor:
            for _, definition in self.search_indexes:
                sys.stderr.write(f"{definition[:70]} …\n")
                cursor.execute(definition)
            for table in ("customer", "commitment", "handoff", "timeline_event", "nag"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            for table in ("outbox_message", "comment", "customer_task", "person", "department"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
            for table in ("membership", "nag_policy"):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT coalesce(max(id), 1) FROM {table}))"
                )
        self.connection.commit()
        self.connection.autocommit = True
        self.connection.execute("VACUUM ANALYZE")
        self.connection.close()


def prepare(url: str, fresh: bool) -> None:
    """An empty database with the schema of the migrations."""
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if path.exists():
            if not fresh:
                raise SystemExit(f"{path} exists: give a new file, or --fresh to replace it")
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
    elif fresh:
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE"))
            conn.execute(text("CREATE SCHEMA public"))
            conn.execute(text("GRANT ALL ON SCHEMA public TO public"))
        engine.dispose()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.root_path + "/migrations")
        db.session.remove()
        db.engine.dispose()


class Organisation:
    """Departments, people, customers: what commitments are made between."""

    def __init__(self, rng: random.Random, counts: dict):
        self.rng = rng
        self.departments = []
        for index in range(counts["departments"]):
            word = DEPARTMENT_WORDS[index % len(DEPARTMENT_WORDS)]
            suffix = (
                "" if index < len(DEPARTMENT_WORDS) else f" {index // len(DEPARTMENT_WORDS) + 1}"
            )
            self.departments.append((index + 1, f"{word}{suffix}"))
        self.people = []  # (id, name, email, department id, role)
        person_id = 0
        for department_id, _ in self.departments:
            for seat in range(counts["people_per_department"]):
                person_id += 1
                first, last = rng.choice(FIRST), rng.choice(LAST)
                if department_id == 1 and seat == 0:
                    email = "lead@bench.example"
                else:
                    email = f"{first}.{last}.{person_id}@bench.example".lower()
                role = "lead" if seat < 2 else "member"
                self.people.append((person_id, f"{first} {last}", email, department_id, role))
        person_id += 1
        self.admin = (person_id, "Ada Admin", "admin@bench.example", None, "admin")
        self.by_department: dict[int, list[tuple]] = {}
        for person in self.people:
            self.by_department.setdefault(person[3], []).append(person)
        self.customers = counts["customers"]

    def member(self, department_id: int) -> tuple:
        return self.rng.choice(self.by_department[department_id])


def write_organisation(writer, org: Organisation, rng: random.Random) -> None:
    password = generate_password_hash(PASSWORD)
    created = NOW - timedelta(days=HISTORY_DAYS + 30)
    writer.put(
        "department",
        ["id", "name", "name_key", "description", "created_at"],
        [(i, name, name.casefold(), f"The {name} team.", created) for i, name in org.departments],
    )
    people = [*org.people, org.admin]
    writer.put(
        "person",
        [
            "id",
            "name",
            "email",
            "password_hash",
            "is_admin",
            "active",
            "time_zone",
            "digest_mode",
            "created_at",
            "session_token",
        ],
        [
            (
                *p[:3],
                password,
                p[4] == "admin",
                True,
                "Europe/Berlin",
                "each",
                created,
                f"{p[0]:032x}",
            )
            for p in people
        ],
    )
    writer.put(
        "membership",
        ["id", "person_id", "department_id", "role"],
        [(p[0], p[0], p[3], p[4]) for p in org.people],
    )
    writer.put(
        "nag_policy",
        ["id", "department_id", *DEFAULTS],
        [(1, None, *DEFAULTS.values())],
    )
    progress = Progress("customers", org.customers)
    for start in range(0, org.customers, CHUNK):
        rows = []
        for customer_id in range(start + 1, min(start + CHUNK, org.customers) + 1):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            phone = f"+49 30 {rng.randrange(10**7, 10**8)}"
            rows.append(
                (
                    customer_id,
                    f"{first} {last} {customer_id}",
                    f"{first}.{last}.{customer_id}@customer.example".lower(),
                    phone,
                    "".join(ch for ch in phone if ch.isdigit()),
                    f"A-{customer_id:07d}",
                    created,
                )
            )
        writer.put(
            "customer",
            ["id", "name", "email", "phone", "phone_digits", "account_ref", "created_at"],
            rows,
        )
        progress.add(len(rows))
    writer.checkpoint()


COMMITMENT_COLUMNS = [
    "id",
    "customer_id",
    "title",
    "details",
    "channel",
    "promised_at",
    "owner_department_id",
    "made_by_id",
    "customer_owner_department_id",
    "created_at",
    "cancelled_at",
    "cancel_reason",
    "on_board",
    "overdue_from",
    "answer_due_at",
    "troubled",
]
HANDOFF_COLUMNS = [
    "id",
    "commitment_id",
    "department_id",
    "owner_department_id",
    "position",
    "ask",
    "due_at",
    "state",
    "requested_at",
    "requested_by_id",
    "answered_at",
    "answered_by_id",
    "answer_note",
    "counter_due_at",
    "counter_terms",
    "changed_at",
    "changed_by_id",
    "done_at",
    "next_nag_at",
    "next_nag_kind",
    "nag_series",
    "nag_count",
    "nags_total",
    "first_nagged_at",
    "last_nagged_at",
    "late_noted_at",
]
TIMELINE_COLUMNS = [
    "id",
    "commitment_id",
    "handoff_id",
    "actor_id",
    "kind",
    "from_state",
    "to_state",
    "data",
    "summary",
    "created_at",
]
COMMENT_COLUMNS = ["id", "commitment_id", "author_id", "body", "created_at"]
NAG_COLUMNS = [
    "id",
    "handoff_id",
    "series",
    "number",
    "kind",
    "level",
    "recipient_email",
    "recipient_name",
    "person_id",
    "via_department_id",
    "created_at",
    "message_id",
    "drop_reason",
]
OUTBOX_COLUMNS = [
    "id",
    "message_id",
    "to_address",
    "to_name",
    "person_id",
    "subject",
    "body_text",
    "body_html",
    "status",
    "attempts",
    "next_attempt_at",
    "sent_at",
    "last_error",
    "created_at",
]
TASK_COLUMNS = [
    "id",
    "commitment_id",
    "handoff_id",
    "reason",
    "department_id",
    "person_id",
    "carried",
    "created_at",
    "due_at",
    "note",
    "next_nag_at",
    "nags_sent",
]


# The rows a commitment brings, by table, in the order they are written.
TABLES = {
    "c": ("commitment", COMMITMENT_COLUMNS),
    "h": ("handoff", HANDOFF_COLUMNS),
    "t": ("timeline_event", TIMELINE_COLUMNS),
    "m": ("comment", COMMENT_COLUMNS),
    "o": ("outbox_message", OUTBOX_COLUMNS),
    "n": ("nag", NAG_COLUMNS),
    "k": ("customer_task", TASK_COLUMNS),
}


class Commitments:
    """Every commitment with its handoffs, timeline, discussion, reminders and mail."""

    def __init__(self, rng: random.Random, org: Organisation, total: int):
        self.rng, self.org, self.total = rng, org, total
        self.handoff_id = 0

    def rows(self, first: int, last: int) -> dict[str, list]:
        """Every row of commitments `first` to `last`: ids follow from the commitment's own,
        so that chunks can be made apart (in other processes) and still fit together."""
        rows = {name: [] for name in TABLES}
        for commitment_id in range(first, last + 1):
            self._one(commitment_id, rows)
        return rows

    def _one(self, commitment_id: int, rows: dict) -> None:
        rng, org = self.rng, self.org
        # ids follow time: the newest commitments are the last ones
        age = HISTORY_DAYS * (1 - commitment_id / self.total) + rng.random()
        created = NOW - timedelta(days=age, minutes=rng.randrange(0, 600))
        # the last few weeks are still open, and a few forgotten ones from long ago
        is_open = age < HISTORY_DAYS * 0.09 or rng.random() < 0.01
        owner_id = rng.randrange(1, len(org.departments) + 1)
        maker = org.member(owner_id)
        customer_id = rng.randrange(1, org.customers + 1)
        work, ask = WORK[commitment_id % len(WORK)]
        if is_open:
            # most open commitments are overdue: their date passed, or a step is late
            promised = created + timedelta(days=rng.choice([2, 3, 5, 7, 14, 30]))
            if rng.random() < 0.7:
                promised = min(promised, NOW - timedelta(hours=rng.randrange(1, 24 * 20)))
        else:
            promised = created + timedelta(days=rng.choice([1, 2, 3, 5, 7, 14]))
        cancelled = not is_open and rng.random() < 0.08
        route_size = rng.choice([1, 2, 2, 2, 3])
        departments = rng.sample(
            [d for d, _ in org.departments if d != owner_id], k=min(route_size, 3)
        )
        facts = []
        first_handoff = (commitment_id - 1) * 3 + 1
        for position, department_id in enumerate(departments, start=1):
            self.handoff_id = (commitment_id - 1) * 3 + position
            due = promised - timedelta(hours=rng.randrange(0, 48))
            if cancelled:
                state = State.CANCELLED
            elif not is_open:
                state = State.DONE
            else:
                state = rng.choices(
                    [State.PENDING, State.ACCEPTED, State.COUNTERED, State.DECLINED, State.DONE],
                    weights=[35, 35, 10, 5, 15],
                )[0]
            answerer = org.member(department_id)
            answered = created + timedelta(hours=rng.randrange(1, 30))
            answered = min(answered, NOW - timedelta(minutes=5))
            pending = state == State.PENDING
            nagged = pending or rng.random() < 0.3
            rows["h"].append(
                (
                    self.handoff_id,
                    commitment_id,
                    department_id,
                    owner_id,
                    position,
                    ask,
                    due,
                    state.value,
                    created,
                    maker[0],
                    None if pending else answered,
                    None if pending else answerer[0],
                    "",
                    due + timedelta(days=2) if state == State.COUNTERED else None,
                    "Two days later" if state == State.COUNTERED else "",
                    created if pending else answered,
                    maker[0] if pending else answerer[0],
                    answered if state == State.DONE else None,
                    # open work is reminded later; the benchmark makes some of it due
                    NOW + timedelta(hours=rng.randrange(1, 72)) if pending else None,
                    "ack" if pending else None,
                    1,
                    2 if nagged else 0,
                    2 if nagged else 0,
                    created + timedelta(hours=2) if nagged else None,
                    created + timedelta(hours=4) if nagged else None,
                    # accepted work past its time was noted late by the sweep when it passed
                    due if state == State.ACCEPTED and due < NOW else None,
                )
            )
            facts.append(HandoffFacts(state, due))
            if position == 1:
                self._reminders(rows, commitment_id, department_id, created)
            if is_open and state == State.DECLINED:
                self._task(rows, commitment_id, department_id, answerer, answered)
        board = board_facts(cancelled=cancelled, promised_at=promised, handoffs=facts)
        rows["c"].append(
            (
                commitment_id,
                customer_id,
                work,
                f"{ask}. Promised on the {rng.choice(CHANNELS)} by {maker[1]}.",
                rng.choice(CHANNELS),
                promised,
                owner_id,
                maker[0],
                owner_id,
                created,
                created + timedelta(hours=3) if cancelled else None,
                "The customer changed their mind" if cancelled else "",
                board.on_board,
                board.overdue_from,
                board.answer_due_at,
                board.troubled,
            )
        )
        owner_name = org.departments[owner_id - 1][1]
        self.event_id = (commitment_id - 1) * 3
        self._event(rows, commitment_id, None, maker, "recorded", {"by": maker[1]}, created)
        name = org.departments[departments[0] - 1][1]
        self._event(
            rows,
            commitment_id,
            first_handoff,
            maker,
            "requested",
            {"department": name, "ask": ask},
            created,
        )
        self._event(
            rows,
            commitment_id,
            first_handoff,
            org.member(departments[0]),
            "accept",
            {"department": name, "note": "On it"},
            created + timedelta(hours=1),
        )
        rows["m"].append(
            (
                commitment_id,
                commitment_id,
                maker[0],
                f"{owner_name} told the customer we would confirm by phone.",
                created + timedelta(minutes=30),
            )
        )

    def _event(self, rows, commitment_id, handoff_id, actor, kind, data, at) -> None:
        self.event_id += 1
        rows["t"].append(
            (self.event_id, commitment_id, handoff_id, actor[0], kind, None, None, data, "", at)
        )

    def _reminders(self, rows, commitment_id, department_id, created) -> None:
        """Two reminders to a member of the first department; some of them left as a mail."""
        person = self.org.member(department_id)
        message = None
        sent = created + timedelta(hours=2)
        if self.rng.random() < 0.2:
            message = commitment_id
            kept = NOW - sent < timedelta(days=RETENTION_DAYS)
            body = (
                f"Hello {person[1]},\n\nC-{commitment_id + 1000} waits for your answer.\n" * 8
                if kept
                else ""
            )
            rows["o"].append(
                (
                    message,
                    f"<{message}.bench@handoff>",
                    person[2],
                    person[1],
                    person[0],
                    f"C-{commitment_id + 1000} waits for your answer",
                    body,
                    f"<p>{body}</p>" if kept else "",
                    "sent",
                    1,
                    sent,
                    sent,
                    "",
                    sent,
                )
            )
        for number in (1, 2):
            rows["n"].append(
                (
                    (commitment_id - 1) * 2 + number,
                    self.handoff_id,
                    1,
                    number,
                    "ack",
                    0,  # the first two reminders reach the department, as the policy says
                    person[2],
                    person[1],
                    person[0],
                    department_id,
                    created + timedelta(hours=2 * number),
                    message,
                    "",
                )
            )

    def _task(self, rows, commitment_id, department_id, answerer, answered) -> None:
        """A declined step leaves its department a customer to tell."""
        rows["k"].append(
            (
                self.handoff_id,
                commitment_id,
                self.handoff_id,
                "declined",
                department_id,
                answerer[0],
                "",
                answered,
                answered + timedelta(hours=2),
                "",
                NOW + timedelta(hours=self.rng.randrange(1, 48)),
                1,
            )
        )


_WORKER: dict = {}


def _start_worker(seed: int, counts: dict, total: int, sqlite: bool, now: datetime) -> None:
    """A process that makes chunks of rows: the same organisation and moment as the main one."""
    global NOW
    NOW = now
    _WORKER.update(org=Organisation(random.Random(seed), counts), total=total, sqlite=sqlite)
    _WORKER["seed"] = seed


def _chunk(first: int) -> tuple[int, dict]:
    last = min(first + CHUNK - 1, _WORKER["total"])
    rng = random.Random(f"{_WORKER['seed']}-{first}")
    rows = Commitments(rng, _WORKER["org"], _WORKER["total"]).rows(first, last)
    if _WORKER["sqlite"]:
        rows = {name: for_sqlite(TABLES[name][1], found) for name, found in rows.items()}
    return last - first + 1, rows


def build_commitments(writer, seed: int, counts: dict, total: int, sqlite: bool) -> None:
    """Every commitment with its handoffs, timeline, discussion, reminders and mail: made in
    chunks by worker processes, written in order by this one."""
    progress = Progress("commitments", total)
    workers = max(1, min(4, os.cpu_count() or 1))
    setup = (seed, counts, total, sqlite, NOW)
    with multiprocessing.Pool(workers, initializer=_start_worker, initargs=setup) as pool:
        for made, rows in pool.imap(_chunk, range(1, total + 1, CHUNK)):
            for name, (table, columns) in TABLES.items():
                writer.write(table, columns, rows[name])
            writer.checkpoint()
            progress.add(made)


def count_figures(url: str) -> None:
    """Insights' figures, counted from the history just written (the domain events that keep
    them up to date did not run for rows written in bulk)."""
    from handoff.insights.rebuild import rebuild

    sys.stderr.write("counting insights' figures …\n")
    started = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        with db.engine.begin() as connection:
            figures = rebuild(connection)
        db.engine.dispose()
    sys.stderr.write(f"  {len(figures):,} week rows in {time.perf_counter() - started:.0f} s\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commitments", type=int, default=10_000)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fresh", action="store_true", help="replace what the database holds")
    parser.add_argument("--now", help="the moment the history leads up to (ISO, UTC)")
    args = parser.parse_args()
    if args.now:
        global NOW
        NOW = datetime.fromisoformat(args.now).replace(tzinfo=UTC)
    url = args.database_url or f"sqlite:///{Path.cwd() / f'bench-{args.commitments}.db'}"
    started = time.perf_counter()
    prepare(url, args.fresh)
    counts = sizes(args.commitments)
    org = Organisation(random.Random(args.seed), counts)
    sqlite = url.startswith("sqlite")
    writer = SqliteWriter(url.removeprefix("sqlite:///")) if sqlite else PostgresWriter(url)
    write_organisation(writer, org, random.Random(args.seed + 1))
    build_commitments(writer, args.seed, counts, args.commitments, sqlite)
    sys.stderr.write("analysing …\n")
    writer.finish()
    count_figures(url)
    print(f"{args.commitments:,} commitments in {url} in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
