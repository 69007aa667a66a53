"""What whoever runs Handoff watches: /healthz, /metrics, log lines with the request's id."""

import io
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from test_busy import hold

from handoff import create_app, observability
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.mail import OutboxMessage
from handoff.nagging.models import NaggerProcess
from handoff.nagging.scheduler import run_round

from conftest import writes


def a_round_finished(at) -> None:
    with writes():
        db.session.add(
            NaggerProcess(
                name="nagger-1:42", started_at=at, last_round_at=at, last_round_seconds=0.25
            )
        )


def test_health_is_503_until_a_nagger_has_finished_a_round(client, app):
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "stale" and response.json["database"] == "ok"
    assert response.json["last_round_at"] is None
    run_round(app)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json["status"] == "ok" and response.json["naggers_alive"] == 1
    assert response.json["last_round_ok"] is True
    assert response.json["last_round_age_seconds"] < 60
    assert response.headers["Cache-Control"] == "no-store"


def test_health_is_503_when_the_last_round_is_older_than_five_sweep_intervals(client, app):
    a_round_finished(utcnow() - timedelta(minutes=6))
    response = client.get("/healthz")
    assert response.status_code == 503 and response.json["status"] == "stale"
    assert response.json["naggers_alive"] == 0
    assert client.get("/healthz/web").status_code == 200  # the web itself is fine


def test_health_reports_the_outbox_backlog_and_failures(client, app, org):
    a_round_finished(utcnow())
    # in the order they were made, with how many minutes ago
    made = [("sent", 60), ("pending", 10), ("failed", 8), ("pending", 5)]
    with writes():
        for index, (status, minutes) in enumerate(made):
            db.session.add(
                OutboxMessage(
                    message_id=f"<{index}@test>",
                    to_address="a@example.com",
                    to_name="A",
                    subject="s",
                    body_text="t",
                    body_html="<p>t</p>",
                    status=status,
                    created_at=utcnow() - timedelta(minutes=minutes),
                    next_attempt_at=utcnow(),
                )
            )
    outbox = client.get("/healthz").json["outbox"]
    assert outbox == {"pending": 2, "sending": 0, "failed": 1}
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "handoff_outbox_messages", status="sent") == 1
    # the first made of those waiting: 10 minutes (not the sent one's hour, nor 5 minutes)
    assert 590 < metric(text, "handoff_outbox_oldest_pending_age_seconds") < 700


def test_health_is_503_when_the_database_is_out_of_reach(tmp_path):
    web = create_app(
        {"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/no/such/folder/h.db", "TESTING": True}
    )
    response = web.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json == {"status": "unavailable", "database": "unreachable"}


def metric(text: str, name: str, **labels) -> float | None:
    """The value of one sample in Prometheus text, or None."""
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if key == (f"{name}{{{wanted}}}" if labels else name):
            return float(value)
    return None


def test_metrics_give_request_latency_by_route_and_the_shared_state(client, app, org, sign_in):
    sign_in(client, org.ana)
    before = client.get("/metrics").get_data(as_text=True)
    seen = metric(
        before, "handoff_request_duration_seconds_count", endpoint="lookup.index", method="GET"
    )
    client.get("/lookup?q=ab")
    run_round(app)
    text = client.get("/metrics").get_data(as_text=True)
    after = metric(
        text, "handoff_request_duration_seconds_count", endpoint="lookup.index", method="GET"
    )
    assert after == (seen or 0) + 1
    assert metric(text, "handoff_outbox_messages", status="failed") == 0
    assert metric(text, "handoff_naggers_alive") == 1
    assert metric(text, "handoff_last_round_timestamp_seconds") > utcnow().timestamp() - 60
    assert metric(text, "handoff_round_duration_seconds_count") >= 1


def test_a_503_for_a_held_row_is_counted_as_a_lock_wait(
    app_factory, database_url, org, make, sign_in
):
    commitment = make.commitment(by=org.ana, owner=org.sales, route=[org.installation])
    web = app_factory(DB_LOCK_TIMEOUT_MS=300)
    client = sign_in(web.test_client(), org.ivo)
    text = client.get("/metrics").get_data(as_text=True)
    before = metric(text, "handoff_busy_answers_total", reason="lock_wait") or 0
    connection, transaction, engine = hold(database_url, commitment.handoffs[0].id)
    try:
        answer = client.post(f"/handoffs/{commitment.handoffs[0].id}/accept", data={})
    finally:
        transaction.rollback()
        connection.close()
        engine.dispose()
    assert answer.status_code == 503
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "handoff_busy_answers_total", reason="lock_wait") == before + 1


def test_without_a_token_only_this_machine_reads_the_metrics(client):
    assert client.get("/metrics").status_code == 200  # the test client is 127.0.0.1
    elsewhere = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert elsewhere.status_code == 403
    assert b"HANDOFF_METRICS_TOKEN" in elsewhere.data


def test_with_a_metrics_token_only_its_bearer_reads_the_metrics(app_factory):
    client = app_factory(METRICS_TOKEN="s3cret").test_client()
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
    response = client.get("/metrics", headers={"Authorization": "Bearer s3cret"})
    assert response.status_code == 200 and b"handoff_outbox_messages" in response.data


@pytest.mark.parametrize(
    ("offered", "kept"), [("abc-123", True), ("bad id <script>", False), ("x" * 65, False)]
)
def test_every_answer_carries_a_request_id_a_sane_one_offered_is_kept(client, offered, kept):
    response = client.get("/login", headers={"X-Request-ID": offered})
    given = response.headers["X-Request-ID"]
    assert (given == offered) is kept
    assert len(given) <= 64 and "\n" not in given


@pytest.fixture
def json_log(app_factory):
    """An app logging JSON lines into a buffer; the logger is put back afterwards."""
    logger = logging.getLogger("handoff")
    saved = (list(logger.handlers), logger.level, logger.propagate)
    buffer = io.StringIO()
    web = app_factory(LOG_FORMAT="json")
    observability.configure_logging(web, stream=buffer)
    yield web, buffer
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    for handler in saved[0]:
        logger.addHandler(handler)
    logger.setLevel(saved[1])
    logger.propagate = saved[2]


def test_with_json_logs_each_request_is_one_json_line_with_its_id(json_log, org, sign_in):
    web, buffer = json_log
    client = sign_in(web.test_client(), org.ana)
    response = client.get("/lookup?q=ab", headers={"X-Request-ID": "req-42"})
    lines = [json.loads(line) for line in buffer.getvalue().splitlines()]
    [access] = [line for line in lines if line.get("request_id") == "req-42"]
    assert access["logger"] == "handoff.access" and access["level"] == "INFO"
    assert (access["endpoint"], access["status"], access["method"]) == ("lookup.index", 200, "GET")
    assert access["duration_ms"] >= 0
    assert response.headers["X-Request-ID"] == "req-42"


def test_every_counter_is_there_from_the_start_and_the_bearer_scheme_has_no_case(app_factory):
    client = app_factory(METRICS_TOKEN="s3cret").test_client()
    response = client.get("/metrics", headers={"Authorization": "bearer s3cret"})
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    for series in (
        'handoff_mail_total{outcome="sent"}',
        'handoff_mail_total{outcome="failed"}',
        'handoff_busy_answers_total{reason="lock_wait"}',
        'handoff_round_failures_total{step="sweep"}',
    ):
        assert series in text, series


def test_the_web_process_freezes_what_it_keeps_after_its_first_requests(tmp_path):
    """app.py (what gunicorn serves) hands its lasting objects out of the collector's passes
    after three requests, once; run in a process of its own, as a server would."""
    script = (
        "import gc\n"
        "from app import app\n"
        "client = app.test_client()\n"
        "counts = []\n"
        "for _ in range(5):  # what a command does to render mail: no request served\n"
        "    with app.test_request_context('/'):\n"
        "        pass\n"
        "assert gc.get_freeze_count() == 0\n"
        "for _ in range(4):\n"
        "    client.get('/static/app.css')\n"
        "    counts.append(gc.get_freeze_count())\n"
        "print(counts)\n"
    )
    env = {**os.environ, "HANDOFF_DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    root = Path(__file__).resolve().parent.parent
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout.strip().splitlines()[-1])
    assert counts[0] == counts[1] == 0 and counts[2] > 0 and counts[3] == counts[2]


def test_the_icon_is_there_for_anyone_who_asks_for_it(client):
    """Pages name static/favicon.svg; /favicon.ico, which some clients ask for regardless,
    is the same picture (a 404 there is an error in every browser console)."""
    with client.get("/favicon.ico") as icon, client.get("/static/favicon.svg") as named:
        assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
        assert icon.data == named.data
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/login").get_data(as_text=True)
