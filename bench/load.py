"""Time every page and action of a running Handoff against a database made by generate.py.

    .venv/bin/python bench/load.py --database-url sqlite:///bench-1000000.db [--requests 200]

Starts the app under gunicorn (2 sync workers) on loopback, on a copy of a SQLite database
(PostgreSQL is used as it is), signs in as an admin (who may answer any department's
handoffs), and measures one request at a time (p50, p95) and two at a time (requests per
second), each phase bounded in requests and seconds: the board's full page and its refresh,
a department inbox, a commitment page, each kind of lookup, an accept (POST), and a static
file of the same server as the floor. Every figure is printed with its ratio to the floor
measured in the same run, since these machines are noisy; then the web workers' peak memory
and the database's size per commitment.
"""

import argparse
import http.client
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password"
REFERENCE_OFFSET = 1000
WORDS = ["router", "refund", "mount", "firmware"]  # words of promises generate.py makes


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Client:
    """One browser: a kept-alive connection, its cookies and its CSRF token."""

    def __init__(self, port: int):
        self.port = port
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        self.cookies: dict[str, str] = {}
        self.token = ""

    def request(self, method: str, path: str, form: dict | None = None, headers=None):
        body = urllib.parse.urlencode(form).encode() if form is not None else None
        sent = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())}
        if body is not None:
            sent["Content-Type"] = "application/x-www-form-urlencoded"
        if self.token:
            sent["X-CSRFToken"] = self.token
        sent.update(headers or {})
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=sent)
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.connection.close()
                self.connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
                if attempt:
                    raise
        for header, value in response.getheaders():
            if header.lower() == "set-cookie":
                name, _, rest = value.partition("=")
                self.cookies[name] = rest.split(";", 1)[0]
        text = data.decode(errors="replace")
        found = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', text) or re.search(
            r'"X-CSRFToken": "([^"]+)"', text
        )
        if found:
            self.token = found.group(1)
        return response.status, data

    def sign_in(self, email: str) -> None:
        self.request("GET", "/login")
        status, _ = self.request("POST", "/login", {"email": email, "password": PASSWORD})
        if status not in (302, 303):
            raise SystemExit(f"could not sign in as {email}: {status}")


class Server:
    """gunicorn with two sync workers, as the README runs it."""

    def __init__(self, url: str, workers: int = 2):
        self.port = free_port()
        env = {
            **os.environ,
            "HANDOFF_DATABASE_URL": url,
            "HANDOFF_SECRET_KEY": "bench",
            "HANDOFF_LOG_LEVEL": "WARNING",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "-w",
                str(workers),
                "-b",
                f"127.0.0.1:{self.port}",
                "--timeout",
                "300",
                "app:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.2)
        raise SystemExit("gunicorn did not start")

    def workers(self) -> list[int]:
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return [int(p) for p in children.read_text().split()] if children.exists() else []

    def peak_memory_mb(self) -> float:
        peaks = []
        for pid in self.workers():
            status = Path(f"/proc/{pid}/status").read_text()
            peaks.append(int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024)
        return max(peaks, default=0.0)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


def sequential(client: Client, make_request, requests: int, seconds: float) -> dict:
    """One request at a time: the median and the 95th percentile, in ms."""
    timings, sizes, statuses = [], [], set()
    started = time.monotonic()
    for index in range(requests):
        method, path, form, headers = make_request(index)
        began = time.perf_counter()
        status, body = client.request(method, path, form, headers)
        timings.append((time.perf_counter() - began) * 1000)
        sizes.append(len(body))
        statuses.add(status)
        if time.monotonic() - started > seconds:
            break
    timings.sort()
    return {
        "p50": statistics.median(timings),
        "p95": timings[min(len(timings) - 1, int(len(timings) * 0.95))],
        "kb": statistics.median(sizes) / 1024,
        "n": len(timings),
        "statuses": sorted(statuses),
    }


def concurrent(clients: list[Client], make_request, requests: int, seconds: float) -> float:
    """Two (or more) clients at once: requests per second in all."""
    done = [0] * len(clients)
    stop = time.monotonic() + seconds

    def work(slot: int, client: Client) -> None:
        index = slot
        while done[slot] < requests // len(clients) and time.monotonic() < stop:
            method, path, form, headers = make_request(index)
            client.request(method, path, form, headers)
            done[slot] += 1
            index += len(clients)

    threads = [threading.Thread(target=work, args=(i, c)) for i, c in enumerate(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.perf_counter() - began)


def facts(url: str) -> dict:
    """What the pages are asked about: a department, an open commitment, some customers,
    handoffs waiting in the department's inbox to accept."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        run = lambda sql: connection.execute(sql).fetchall()  # noqa: E731
    else:
        import psycopg

        connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
        run = lambda sql: connection.execute(sql).fetchall()  # noqa: E731
    department = run(
        "SELECT department_id FROM membership m JOIN person p ON p.id = m.person_id "
        "WHERE p.email = 'lead@bench.example'"
    )[0][0]
    commitment = run("SELECT max(id) FROM commitment WHERE on_board")[0][0]
    customers = run(
        "SELECT name, email FROM customer WHERE id IN (SELECT customer_id FROM "
        "commitment WHERE id > (SELECT max(id) - 2000 FROM commitment)) LIMIT 400"
    )
    waiting = [
        row[0]
        for row in run("SELECT id FROM handoff WHERE state = 'pending' ORDER BY id DESC LIMIT 5000")
    ]
    commitments = run("SELECT count(*) FROM commitment")[0][0]
    connection.close()
    return {
        "department": department,
        "commitment": commitment,
        "customers": customers,
        "waiting": waiting,
        "commitments": commitments,
    }


def database_mb(url: str) -> float:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 2**20
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as connection:
        size = connection.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return size / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=200, help="at most, per phase")
    parser.add_argument("--seconds", type=float, default=20, help="at most, per phase")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument(
        "--only",
        default="",
        help="time only the pages whose names hold one of these words "
        "(comma-separated; the floor is always timed)",
    )
    args = parser.parse_args()

    url = args.database_url
    folder = None
    if url.startswith("sqlite"):  # the accepts change it: work on a copy
        folder = tempfile.mkdtemp(prefix="handoff-load-")
        source = Path(url.removeprefix("sqlite:///"))
        copy = Path(folder) / source.name
        shutil.copy(source, copy)
        url = f"sqlite:///{copy}"
    known = facts(url)
    server = Server(url)
    try:
        clients = [Client(server.port), Client(server.port)]
        for client in clients:
            client.sign_in("admin@bench.example")  # answers any department's handoffs
        customers = known["customers"]
        reference = f"C-{known['commitment'] + REFERENCE_OFFSET}"
        inbox = f"/departments/{known['department']}/inbox"
        htmx = {"HX-Request": "true"}
        waiting = list(known["waiting"])

        year_ago = (datetime.now(UTC) - timedelta(weeks=52)).date().isoformat()

        def get(path, headers=None):
            return lambda i: ("GET", path(i) if callable(path) else path, None, headers)

        def accept(i):
            handoff = waiting.pop() if waiting else 0
            return ("POST", f"/handoffs/{handoff}/accept", {"view": "inbox"}, htmx)

        phases = [
            ("floor: a static file", get("/static/app.css")),
            ("board, full page", get("/")),
            ("board, refresh", get("/", htmx)),
            ("board by customer's date", get("/?sort=due", htmx)),
            ("department inbox", get(inbox)),
            ("commitment page", get(f"/commitments/{reference}")),
            (
                "lookup by e-mail",
                get(lambda i: "/lookup?q=" + customers[i % len(customers)][1], htmx),
            ),
            ("lookup by reference", get(f"/lookup?q={reference}", htmx)),
            (
                "lookup by 3 letters",
                get(lambda i: "/lookup?q=" + customers[i % len(customers)][0][:3], htmx),
            ),
            ("lookup by a word", get(lambda i: "/lookup?q=" + WORDS[i % len(WORDS)], htmx)),
            ("health check", get("/healthz/web")),
            ("insights, 8 weeks", get("/insights")),
            ("insights, a year", get(f"/insights?from={year_ago}")),
            ("accept (POST)", accept),
        ]
        if args.only:
            words = [word.strip() for word in args.only.split(",") if word.strip()]
            phases = phases[:1] + [p for p in phases[1:] if any(w in p[0] for w in words)]
        print(f"Handoff, {known['commitments']:,} commitments, {url.split(':')[0]}")
        print(
            f"{'':26}{'p50 ms':>9}{'×floor':>8}{'p95 ms':>9}{'×floor':>8}"
            f"{'2 at once/s':>13}{'KB':>8}"
        )
        results = {}
        floor = None
        for name, make in phases:
            figures = sequential(clients[0], make, args.requests, args.seconds)
            figures["per_second"] = concurrent(clients, make, args.requests, args.seconds)
            floor = floor or figures
            results[name] = figures
            print(
                f"{name:26}{figures['p50']:9.1f}{figures['p50'] / floor['p50']:8.1f}"
                f"{figures['p95']:9.1f}{figures['p95'] / floor['p95']:8.1f}"
                f"{figures['per_second']:13.0f}{figures['kb']:8.0f}"
                f"  {'' if figures['statuses'] in ([200], [200, 304]) else figures['statuses']}"
            )
        memory = server.peak_memory_mb()
        size = database_mb(url)
        print(f"web worker peak memory: {memory:.0f} MB")
        per_commitment = size * 1024 / known["commitments"]
        print(f"database: {size:.0f} MB, {per_commitment:.1f} KB per commitment")
        if args.json:
            Path(args.json).write_text(
                json.dumps({"results": results, "memory_mb": memory, "database_mb": size}, indent=1)
            )
    finally:
        server.stop()
        if folder:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
