"""Faults in a multi-process run on PostgreSQL: two web processes (gunicorn), two naggers and
a real SMTP server, while a person answers handoffs and reads pages and new commitments keep
coming. One nagger is killed, the other stopped mid-round, the mail server is down for half a
minute, the database cuts every connection. Every answer given is kept, every message leaves
exactly once, no page waits more than a few seconds.

Slow (about two minutes) and PostgreSQL's: SQLite serves one machine with one writer.
"""

import email
import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from datetime import timedelta
from email import policy as email_policy
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from handoff.accounts.models import Person
from handoff.departments.models import Department
from handoff.kernel.db import db, end_session

from conftest import PASSWORD, writes
from nagging_helpers import set_policy

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Received:
    """The SMTP server's side: every message it accepted, by Message-ID."""

    def __init__(self):
        self.ids: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.content, policy=email_policy.default)
        self.ids.append(message["Message-ID"])
        return "250 OK"


class MailServer:
    def __init__(self, port: int):
        self.port, self.received, self.controller = port, Received(), None

    def up(self):
        self.controller = Controller(self.received, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def down(self):
        self.controller.stop()


class Browser:
    """A person's browser against one of the web processes: cookies, the CSRF token, timings."""

    def __init__(self, base: str, timings: list):
        self.base, self.timings = base, timings
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )
        self.token = ""

    def request(self, path: str, data: dict | None = None) -> tuple[int, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body)
        if self.token:
            request.add_header("X-CSRFToken", self.token)
        started = time.monotonic()
        try:
            with self.opener.open(request, timeout=60) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode(errors="replace")
        self.timings.append((data is not None, path, status, time.monotonic() - started))
        found = re.search(r'name="csrf_token" value="([^"]+)"', text) or re.search(
            r'"X-CSRFToken": "([^"]+)"', text
        )
        if found:
            self.token = found.group(1)
        return status, text

    def sign_in(self, email_address: str) -> None:
        self.request("/login")
        status, _ = self.request(
            "/login",
            {"email": email_address, "password": PASSWORD, "csrf_token": self.token},
        )
        assert status == 200, status  # redirected to the board


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    """Start a process of the run; what it prints goes to its log (read when the run fails)."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def tracebacks(logs: Path) -> str:
    """The tracebacks the run's processes printed, for a failure's message."""
    found = []
    for log in sorted(logs.glob("*.log")):
        text = log.read_text(errors="replace")
        for block in re.findall(r"Traceback \(most recent call last\):.*?\n\S[^\n]*", text, re.S):
            found.append(f"--- {log.name}\n{block[-3000:]}")
    return "\n".join(found[:5]) or "(no traceback in the processes' logs)"


def wait_until_up(base: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz/web", timeout=5):
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.3)
    raise AssertionError(f"{base} never came up")


def test_answers_are_kept_and_mail_leaves_once_through_killed_stopped_and_cut_processes(
    pg_url, org, make, now, app, tmp_path
):
    set_policy(always_open=True, ack_window_minutes=1, cadence_minutes=1, escalate_after=1)
    with writes():
        for person in db.session.scalars(sa.select(Person)):
            person.time_zone = "UTC"
    smtp = MailServer(free_port())
    smtp.up()
    env = {
        **os.environ,
        "HANDOFF_DATABASE_URL": pg_url,
        "HANDOFF_SECRET_KEY": "faults-test",
        "HANDOFF_SMTP_HOST": "127.0.0.1",
        "HANDOFF_SMTP_PORT": str(smtp.port),
        "HANDOFF_SMTP_TIMEOUT": "5",
        "HANDOFF_MAIL_CLAIM_SECONDS": "10",
        "HANDOFF_SWEEP_INTERVAL_SECONDS": "2",
        "HANDOFF_DIGEST_MIN_MINUTES": "0",
        "HANDOFF_DIGEST_DAILY_CAP": "0",
    }
    webs = [free_port(), free_port()]
    processes = {
        f"web{i}": start(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
            env,
            tmp_path / f"web{i}.log",
        )
        for i, port in enumerate(webs)
    }
    nagger = [sys.executable, "-m", "flask", "--app", "app", "nagger"]
    processes["nagger-a"] = start(nagger, env, tmp_path / "nagger-a.log")
    processes["nagger-b"] = start(nagger, env, tmp_path / "nagger-b.log")
    timings: list = []
    answers: dict[int, int] = {}  # handoff id -> the final status of answering it
    stop = threading.Event()
    problems: list[str] = []

    for index in range(3):  # Billing answers nothing here: its people get mail all along
        make.person(f"Billing {index}", member_of=[org.billing])
    ids = {
        "ana": org.ana.id,
        "sales": org.sales.id,
        "installation": org.installation.id,
        "billing": org.billing.id,
    }
    ivo_email = org.ivo.email

    def promise(index: int) -> None:
        make.commitment(
            by=db.session.get(Person, ids["ana"]),
            owner=db.session.get(Department, ids["sales"]),
            route=[db.session.get(Department, ids[d]) for d in ("installation", "billing")],
            at=now - timedelta(minutes=5) + timedelta(seconds=index),
            due_in=timedelta(days=2),
        )

    def new_commitments():
        """Promises keep being made (and are reminded at once: their window is over)."""
        with app.app_context():
            index = 0
            while not stop.is_set():
                index += 1
                try:
                    promise(index)
                except sa.exc.DBAPIError:  # the database cut this connection too: next one
                    end_session()
                stop.wait(3)
            end_session()

    def person_at_work():
        """Ivo answers what waits in Installation's inbox and reads pages, through either
        web process, retrying a 503 as the page tells him to."""
        browsers = [Browser(f"http://127.0.0.1:{port}", timings) for port in webs]
        for browser in browsers:
            browser.sign_in(ivo_email)
        turn = 0
        while not stop.is_set():
            browser = browsers[turn % 2]
            turn += 1
            status, page = browser.request(f"/departments/{ids['installation']}/inbox")
            browser.request("/")
            browser.request("/lookup?q=C-10")
            if status != 200:
                stop.wait(0.5)
                continue
            waiting = [
                int(h)
                for h in re.findall(r'id="handoff-(\d+)" class="handoff handoff-pending"', page)
            ]
            for handoff_id in [h for h in waiting if h not in answers][:2]:
                for _ in range(40):
                    status, _ = browser.request(
                        f"/handoffs/{handoff_id}/accept", {"note": "On it", "view": "inbox"}
                    )
                    if status != 503:
                        break
                    stop.wait(0.5)
                answers[handoff_id] = status
                if status >= 500:
                    problems.append(f"answering {handoff_id}: {status}")
            stop.wait(0.3)

    for index in range(6):
        promise(-index)
    db.session.remove()  # the test's own session holds no transaction while the run goes on
    try:
        for port in webs:
            wait_until_up(f"http://127.0.0.1:{port}")
        workers = [threading.Thread(target=f) for f in (new_commitments, person_at_work)]
        for worker in workers:
            worker.start()
        time.sleep(12)
        # a nagger is killed and comes back
        os.killpg(processes["nagger-a"].pid, signal.SIGKILL)
        processes["nagger-a"].wait()
        time.sleep(4)
        processes["nagger-a"] = start(nagger, env, tmp_path / "nagger-a.log")
        time.sleep(8)
        # the other is stopped mid-round for 15 s, then goes on
        os.killpg(processes["nagger-b"].pid, signal.SIGSTOP)
        time.sleep(15)
        os.killpg(processes["nagger-b"].pid, signal.SIGCONT)
        time.sleep(6)
        # the mail server is down for half a minute
        smtp.down()
        time.sleep(30)
        smtp.up()
        time.sleep(4)
        # the database cuts every connection
        admin = sa.create_engine(pg_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            )
        time.sleep(8)
        stop.set()
        for worker in workers:
            worker.join(timeout=120)
        # everything written is sent before the check (back-offs are a minute at first)
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            with admin.connect() as conn:
                left = conn.execute(
                    sa.text(
                        "SELECT count(*) FROM outbox_message WHERE status IN ('pending', 'sending')"
                    )
                ).scalar()
            if left == 0:
                break
            time.sleep(2)
        with admin.connect() as conn:
            outbox = conn.execute(sa.text("SELECT message_id, status FROM outbox_message")).all()
            states = dict(
                conn.execute(
                    sa.text("SELECT id, state FROM handoff WHERE id = ANY(:ids)"),
                    {"ids": list(answers)},
                ).all()
            )
        admin.dispose()
    finally:
        stop.set()
        for process in processes.values():
            try:
                os.killpg(process.pid, signal.SIGCONT)
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=30)
        smtp.down()

    try:
        figures = verdict(answers, states, outbox, smtp.received.ids, timings)
    except AssertionError as failure:
        raise AssertionError(f"{failure}\n{tracebacks(tmp_path)}") from None
    print(f"\nfaults run: {figures}")  # shown with -s


def verdict(answers, states, outbox, delivered_ids, timings) -> dict:
    """Check what the run left behind against the promises; answer its figures."""
    assert len(answers) >= 5, answers
    lost = {h: status for h, status in answers.items() if status not in (200, 303)}
    assert lost == {}, "answers that never went through"
    assert all(states[h] == "accepted" for h in answers), states

    statuses = Counter(status for _, status in outbox)
    assert statuses["pending"] == statuses["sending"] == statuses["failed"] == 0, statuses
    sent = {message_id for message_id, status in outbox if status == "sent"}
    assert len(sent) >= 30, statuses
    delivered = Counter(delivered_ids)
    assert set(delivered) == sent, "sent and delivered differ"
    twice = [m for m, n in delivered.items() if n > 1]
    assert twice == [], "delivered more than once"

    errors = [(path, status) for _, path, status, _ in timings if status >= 500 and status != 503]
    assert errors == [], "server errors"
    pages = [t for post, _, _, t in timings if not post]
    posts = [t for post, _, _, t in timings if post] or [0]
    slowest = sorted(timings, key=lambda t: -t[3])[:5]
    assert max(pages) < 3, f"a page took too long: {slowest}"
    assert max(posts) < 7, f"an answer took too long: {slowest}"
    return {
        "answers": len(answers),
        "requests": len(timings),
        "503s": sum(status == 503 for _, _, status, _ in timings),
        "slowest page s": round(max(pages), 2),
        "slowest answer s": round(max(posts), 2),
        "outbox": dict(statuses),
        "delivered": len(delivered),
    }


def a_good_run():
    outbox = [(f"<{i}@x>", "sent") for i in range(30)] + [("<w@x>", "withdrawn")]
    return {
        "answers": {h: 303 for h in range(1, 6)},
        "states": {h: "accepted" for h in range(1, 6)},
        "outbox": outbox,
        "delivered_ids": [f"<{i}@x>" for i in range(30)],
        "timings": [(False, "/", 200, 0.05), (True, "/handoffs/1/accept", 503, 5.1)],
    }


@pytest.mark.parametrize(
    ("fault", "reported"),
    [
        (lambda run: run["delivered_ids"].append("<3@x>"), "delivered more than once"),
        (lambda run: run["delivered_ids"].remove("<3@x>"), "sent and delivered differ"),
        (lambda run: run["answers"].update({9: 503}), "never went through"),
        (lambda run: run["states"].update({2: "pending"}), "accepted"),
        (lambda run: run["outbox"].append(("<p@x>", "pending")), "pending"),
        (lambda run: run["timings"].append((False, "/", 200, 4.0)), "a page took too long"),
        (lambda run: run["timings"].append((True, "/x", 303, 9.0)), "an answer took too long"),
        (lambda run: run["timings"].append((False, "/", 500, 0.1)), "server errors"),
    ],
)
def test_the_verdict_reports_each_kind_of_fault(fault, reported):
    run = a_good_run()
    verdict(**run)  # a good run passes
    fault(run)
    with pytest.raises(AssertionError, match=reported):
        verdict(**run)
