"""Play a CRM against a running Handoff on PostgreSQL: the integrations, end to end.

    .venv/bin/python bench/crm.py [--commitments 1000] [--down-seconds 60]
        [--server postgresql+psycopg://postgres@127.0.0.1:5432]

Makes a fresh database `crm` on the server, an organisation (Sales promises, Installation
delivers), API tokens and a webhook to a receiver on loopback, then starts Handoff as it runs
in production: gunicorn (2 workers), a nagger (every 5 s), the reply listener (`flask
mail-in`), and a mail server on loopback that keeps what Handoff sends. Then:

1. creates the commitments through the API, 4 at a time, each with an Idempotency-Key, a
   tenth of them sent twice (no duplicate may appear);
2. halfway, takes the webhook receiver down for --down-seconds;
3. Installation accepts a tenth of them through the API and the status is read back;
4. waits for every webhook delivery the database owes to arrive, signed (checked with the
   webhook's secret), with its id: none may be lost;
5. replies "counter: Thursday 14:00" over SMTP to a reminder Installation got (it must
   become a counter on the timeline) and sends a forged reply (nothing may change).

Prints what it saw and exits non-zero if anything is wrong.
"""

import argparse
import json
import os
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import sqlalchemy as sa
from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook as Verifier

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from load import free_port  # noqa: E402  (bench/load.py)


class Receiver:
    """The CRM's webhook endpoint: checks every signature, keeps every id; can go down."""

    def __init__(self, port: int):
        self.port, self.secret = port, ""
        self.ids: set[str] = set()
        self.received = self.bad = 0
        self.lock = threading.Lock()
        self.server = None

    def up(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    Verifier(receiver.secret).verify(raw, headers)
                except Exception:
                    with receiver.lock:
                        receiver.bad += 1
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver.lock:
                    receiver.received += 1
                    receiver.ids.add(headers["webhook-id"])
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    """The organisation's mail server: keeps what Handoff sends."""

    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"


def api(base, token, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def setup(url: str, receiver_url: str) -> dict:
    """The organisation, its tokens and the webhook, made through the app's own services."""
    os.environ["HANDOFF_DATABASE_URL"] = url
    from handoff import create_app
    from handoff.accounts.models import Person
    from handoff.api.tokens import create_token
    from handoff.departments.models import Department, Membership
    from handoff.kernel.db import db
    from handoff.nagging.policies import save_policy
    from handoff.webhooks.services import EVENT_TYPES, register

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    now = datetime.now(UTC)
    with app.app_context():
        from flask_migrate import upgrade

        upgrade(directory=app.root_path + "/migrations")
        sales, installation = Department(name="Sales"), Department(name="Installation")
        admin = Person(name="Admin", email="admin@example.com", is_admin=True)
        ana = Person(name="Ana Ruiz", email="ana@example.com", time_zone="Europe/Berlin")
        ivo = Person(name="Ivo Berg", email="ivo@example.com", time_zone="Europe/Berlin")
        for person in (admin, ana, ivo):
            person.set_password("crm-password")
        db.session.add_all([sales, installation, admin, ana, ivo])
        db.session.add_all(
            [
                Membership(person=ana, department=sales, role="lead"),
                Membership(person=ivo, department=installation, role="lead"),
            ]
        )
        db.session.flush()
        save_policy(None, now, always_open=True, ack_window_minutes=1)
        _, crm = create_token(ana, name="CRM", scope="write", days=1, now=now)
        _, field = create_token(ivo, name="Field app", scope="write", days=1, now=now)
        hook = register(admin, receiver_url, list(EVENT_TYPES), "CRM", now)
        db.session.commit()
        made = {
            "crm": crm,
            "field": field,
            "secret": hook.secret,
            "sales": sales.id,
            "installation": installation.id,
        }
        db.engine.dispose()
    return made


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--commitments", type=int, default=1000)
    parser.add_argument("--down-seconds", type=int, default=60)
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    args = parser.parse_args()
    url = f"{args.server}/crm"
    admin = sa.create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql("DROP DATABASE IF EXISTS crm WITH (FORCE)")
        connection.exec_driver_sql("CREATE DATABASE crm")
    admin.dispose()

    receiver = Receiver(free_port())
    receiver.up()
    made = setup(url, f"http://127.0.0.1:{receiver.port}/hooks")
    receiver.secret = made["secret"]
    mailbox = Mailbox()
    smtp_port, reply_port, web_port = free_port(), free_port(), free_port()
    mail_server = Controller(mailbox, hostname="127.0.0.1", port=smtp_port)
    mail_server.start()
    env = {
        **os.environ,
        "HANDOFF_DATABASE_URL": url,
        "HANDOFF_SECRET_KEY": "crm-walk",
        "HANDOFF_SMTP_HOST": "127.0.0.1",
        "HANDOFF_SMTP_PORT": str(smtp_port),
        "HANDOFF_SWEEP_INTERVAL_SECONDS": "5",
        "HANDOFF_PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
    }
    logs = Path(tempfile.mkdtemp(prefix="crm-"))
    flask = [sys.executable, "-m", "flask", "--app", "app"]
    gunicorn = [sys.executable, "-m", "gunicorn", "-w", "2"]
    processes = [
        subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=(logs / f"{name}.log").open("w"),
            stderr=subprocess.STDOUT,
        )
        for name, command in {
            "web": [*gunicorn, "-b", f"127.0.0.1:{web_port}", "app:app"],
            "nagger": [*flask, "nagger"],
            "mail-in": [*flask, "mail-in", "--port", str(reply_port)],
        }.items()
    ]
    base = f"http://127.0.0.1:{web_port}"
    problems = []
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(base + "/healthz/web", timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        problems += walk(args, base, made, receiver, mailbox, reply_port, url)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
        mail_server.stop()
        receiver.down()
    print(f"\nLogs: {logs}")
    if problems:
        print("\nWRONG:\n- " + "\n- ".join(problems))
        return 1
    print("\nEverything held.")
    return 0


def walk(args, base, made, receiver, mailbox, reply_port, url) -> list[str]:
    problems = []
    n = args.commitments
    soon = datetime.now(UTC) + timedelta(days=20)

    def body(i):
        return {
            "customer": {"name": f"Customer {i}", "email": f"c{i}@example.com"},
            "title": f"Router installed (order {i})",
            "channel": "web",
            "promised_at": (soon + timedelta(hours=i % 50)).isoformat(),
            "promised_by": made["sales"],
            "route": [
                {
                    "department_id": made["installation"],
                    "ask": "Install the router",
                    "due_at": (soon - timedelta(days=1)).isoformat(),
                }
            ],
        }

    def create(i):
        key = {"Idempotency-Key": f"order-{i}"}
        status, answer = api(base, made["crm"], "POST", "/api/v1/commitments", body(i), key)
        if i % 10 == 0:  # the CRM timed out and sends it again
            again, repeat = api(base, made["crm"], "POST", "/api/v1/commitments", body(i), key)
            if again != 201 or repeat["reference"] != answer["reference"]:
                problems.append(f"order {i}: the retry answered {again}, not the first result")
        return status, answer

    def outage():
        time.sleep(2)
        receiver.down()
        print(f"  the webhook receiver is down for {args.down_seconds} s")
        time.sleep(args.down_seconds)
        receiver.up()
        print("  the webhook receiver is back")

    started = time.monotonic()
    with ThreadPoolExecutor(4) as pool:
        first = list(pool.map(create, range(n // 2)))
        down = threading.Thread(target=outage)
        down.start()
        rest = list(pool.map(create, range(n // 2, n)))
    results = first + rest
    took = time.monotonic() - started
    statuses = {s for s, _ in results}
    references = {a["reference"] for s, a in results if s == 201}
    print(f"1. {n} commitments through the API in {took:.1f} s ({n / took:.0f} a second);")
    print(f"2. the webhook receiver was down for {args.down_seconds} s in the middle")
    if statuses != {201} or len(references) != n:
        problems.append(f"creation answered {statuses}, {len(references)} distinct of {n}")

    engine = sa.create_engine(url)
    with engine.connect() as connection:
        count = connection.exec_driver_sql("SELECT count(*) FROM commitment").scalar()
    print(f"   {count} commitments in the database ({n // 10} requests were sent twice)")
    if count != n:
        problems.append(f"{count} commitments recorded for {n} orders")

    chosen = sorted(references)[: n // 10]
    accepted = 0
    for reference in chosen:
        _, commitment = api(base, made["field"], "GET", f"/api/v1/commitments/{reference}")
        handoff = commitment["handoffs"][0]["id"]
        status, _ = api(base, made["field"], "POST", f"/api/v1/handoffs/{handoff}/accept", {})
        _, read = api(base, made["field"], "GET", f"/api/v1/commitments/{reference}")
        accepted += status == 200 and read["handoffs"][0]["state"] == "accepted"
    print(f"3. Installation accepted {accepted} of {len(chosen)} through the API, read back")
    if accepted != len(chosen):
        problems.append(f"{len(chosen) - accepted} accepts did not read back as accepted")

    down.join()
    deadline = time.monotonic() + args.down_seconds + 600
    owed = set()
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            owed = set(
                connection.exec_driver_sql("SELECT message_id FROM webhook_delivery").scalars()
            )
        if owed and owed <= receiver.ids:
            break
        time.sleep(3)
    lost = owed - receiver.ids
    print(
        f"4. webhooks: {len(owed)} owed, {len(receiver.ids)} distinct ids received "
        f"({receiver.received} deliveries, {receiver.bad} badly signed), {len(lost)} lost"
    )
    if lost or receiver.bad:
        problems.append(f"{len(lost)} webhook deliveries never arrived, {receiver.bad} bad")

    reminder = None  # the newest reminder to Installation whose first handoff still waits
    for _ in range(180):
        for m in reversed(mailbox.messages):
            if m["To"].addresses[0].username != "ivo" or m["Reply-To"] is None:
                continue
            first = int(str(m["Reply-To"]).split("+")[1].split(".")[1])
            with engine.connect() as connection:
                state = connection.exec_driver_sql(
                    f"SELECT state FROM handoff WHERE id = {first}"
                ).scalar()
            if state == "pending":
                reminder = m
                break
        if reminder is not None:
            break
        time.sleep(1)
    if reminder is None:
        problems.append("no reminder of a waiting handoff reached Installation")
        return problems
    answers = {str(m["Message-ID"]) for m in mailbox.messages}
    forged = send_reply(reply_port, reminder, "accept", "mallory@evil.example")
    sent = send_reply(reply_port, reminder, "counter: Thursday 14:00", "ivo@example.com")
    time.sleep(8)
    lead = int(str(reminder["Reply-To"]).split("+")[1].split(".")[1])
    with engine.connect() as connection:
        state, terms, due = connection.exec_driver_sql(
            f"SELECT state, counter_terms, counter_due_at FROM handoff WHERE id = {lead}"
        ).one()
        kinds = list(
            connection.exec_driver_sql(
                "SELECT e.kind FROM timeline_event e JOIN handoff h "
                f"ON h.commitment_id = e.commitment_id WHERE h.id = {lead} ORDER BY e.id"
            ).scalars()
        )
        noted = dict(
            connection.exec_driver_sql("SELECT message_key, outcome FROM inbound_reply").all()
        )
    print(f"5. a reply 'counter: Thursday 14:00': the handoff is {state}, due {due}")
    print(f"   its timeline: {', '.join(kinds)}; terms {terms!r}")
    print(f"   the forged reply was {noted.get(str(forged['Message-ID']))}")
    confirmations = []
    for _ in range(30):  # the confirmation leaves with the nagger's next round
        confirmations = [
            m
            for m in mailbox.messages
            if str(m["Message-ID"]) not in answers and str(m["Subject"]).startswith("Re:")
        ]
        if confirmations:
            break
        time.sleep(1)
    if state != "countered" or "counter" not in kinds:
        problems.append(f"the reply left the handoff {state}")
    if noted.get(str(forged["Message-ID"])) != "refused":
        problems.append("the forged reply was not refused")
    if noted.get(str(sent["Message-ID"])) != "taken":
        problems.append("the reply was not taken")
    said = confirmations[0].get_body(("plain",)).get_content() if confirmations else ""
    print(f"   Ivo was answered: {said.splitlines()[0] if said else '(nothing)'}")
    if not said.startswith("Done:"):
        problems.append("no confirmation of the reply reached Ivo")
    engine.dispose()
    return problems


def send_reply(port, reminder, text, sender):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = str(reminder["Reply-To"])
    message["Subject"] = "Re: " + str(reminder["Subject"])
    message["Message-ID"] = make_msgid(domain="phone.example")
    message.set_content(f"{text}\n\nOn Sunday, Handoff wrote:\n> {reminder['Subject']}\n")
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        client.send_message(message)
    return message


if __name__ == "__main__":
    sys.exit(main())
