"""The integrations' claims about concurrency, with real processes on PostgreSQL: two web
processes (gunicorn, two workers each) take the same creation at the same moment through
different processes and record it once; two naggers deliver every webhook, each once,
signed, while the receiver goes down and comes back."""

import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import sqlalchemy as sa

from handoff.api import tokens
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, end_session
from handoff.webhooks import services as webhooks

from conftest import writes
from test_faults import free_port, start, tracebacks, wait_until_up
from test_webhooks import Receiver


def post(base: str, token: str, body: dict, key: str) -> tuple[int, dict]:
    request = urllib.request.Request(
        base + "/api/v1/commitments",
        data=json.dumps(body).encode(),
        method="POST",
        headers={
            "Authorization": f"Bearer {token}",
            "Content-Type": "application/json",
            "Idempotency-Key": key,
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_two_web_processes_record_a_retried_creation_once_and_two_naggers_deliver_each_once(
    pg_url, org, app, tmp_path
):
    receiver = Receiver()
    with writes():
        hook = webhooks.register(org.admin, receiver.url, ["commitment.created"], "CRM", utcnow())
        _, secret = tokens.create_token(org.ana, name="CRM", scope="write", days=1, now=utcnow())
    receiver.secret = hook.secret
    ids = {"sales": org.sales.id, "installation": org.installation.id}
    end_session()
    env = {
        **os.environ,
        "HANDOFF_DATABASE_URL": pg_url,
        "HANDOFF_SECRET_KEY": "integrations-test",
        "HANDOFF_SWEEP_INTERVAL_SECONDS": "1",
    }
    webs = [free_port(), free_port()]
    processes = [
        start(
            [sys.executable, "-m", "gunicorn", "-w", "2", "-b", f"127.0.0.1:{port}", "app:app"],
            env,
            tmp_path / f"web{i}.log",
        )
        for i, port in enumerate(webs)
    ]
    nagger = [sys.executable, "-m", "flask", "--app", "app", "nagger"]
    processes += [start(nagger, env, tmp_path / f"nagger-{n}.log") for n in "ab"]
    soon = utcnow() + timedelta(days=10)

    def body(n: int) -> dict:
        return {
            "customer": {"name": f"Customer {n}"},
            "title": f"Order {n}",
            "channel": "web",
            "promised_at": soon.isoformat(),
            "promised_by": ids["sales"],
            "route": [
                {
                    "department_id": ids["installation"],
                    "ask": "Install",
                    "due_at": (soon - timedelta(days=1)).isoformat(),
                }
            ],
        }

    try:
        for port in webs:
            wait_until_up(f"http://127.0.0.1:{port}")
        orders = 20
        # each order sent four times at once: twice to each web process
        sends = [(n, webs[copy % 2]) for n in range(orders) for copy in range(4)]
        outage = threading.Timer(1.0, receiver.close)  # the receiver drops out mid-way
        outage.start()
        with ThreadPoolExecutor(8) as pool:
            answers = list(
                pool.map(
                    lambda s: post(f"http://127.0.0.1:{s[1]}", secret, body(s[0]), f"o-{s[0]}"),
                    sends,
                )
            )
        outage.join()
        assert {status for status, _ in answers} <= {200, 201}, answers
        by_order: dict[int, set] = {}
        for (n, _), (_, answer) in zip(sends, answers, strict=True):
            by_order.setdefault(n, set()).add(answer["reference"])
        assert all(len(refs) == 1 for refs in by_order.values()), by_order
        with app.app_context():
            count = db.session.scalar(sa.text("SELECT count(*) FROM commitment"))
            end_session()
        assert count == orders

        time.sleep(3)  # the naggers fail against the dropped receiver meanwhile
        receiver.reopen()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(set(receiver.ids)) < orders:
            time.sleep(0.5)
        time.sleep(3)  # (a duplicate would arrive now)
        assert len(set(receiver.ids)) == len(receiver.ids), "a delivery arrived twice"
        assert len(receiver.ids) == orders, (len(receiver.ids), tracebacks(tmp_path))
        with app.app_context():
            owed = db.session.scalar(
                sa.text("SELECT count(*) FROM webhook_delivery WHERE status = 'owed'")
            )
            end_session()
        assert owed == 0
    finally:
        receiver.close()
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=30)
