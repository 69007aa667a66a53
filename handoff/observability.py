"""What whoever runs Handoff watches: a health check for load balancers, Prometheus metrics,
and log lines that carry the request's id (one JSON object a line when configured).

Counters and histograms live in each process (prometheus-client; with
PROMETHEUS_MULTIPROC_DIR set, every gunicorn worker and a nagger on the same machine are
summed). What every process shares is read from the database when scraped: the outbox
backlog, the last round of any nagger.
"""

import gc
import hmac
import ipaddress
import logging
import os
import re
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta

from flask import Blueprint, Flask, current_app, g, jsonify, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from handoff.extensions import csrf
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db
from handoff.mail import OutboxMessage
from handoff.metrics import BUSY, REQUEST_SECONDS, REQUESTS
from handoff.nagging.models import NaggerProcess

log = logging.getLogger(__name__)
access_log = logging.getLogger("handoff.access")
bp = Blueprint("observability", __name__)

REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


# --- request ids and log lines ---------------------------------------------------------------


class RequestIdFilter(logging.Filter):
    """Put the current request's id on every log record (or "-" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        from flask import has_request_context

        record.request_id = g.get("request_id", "-") if has_request_context() else "-"
        return True


class JsonLines(logging.StreamHandler):
    """The handler that writes one JSON object a line, with the request's id."""

    def __init__(self, stream=None):
        from pythonjsonlogger.json import JsonFormatter

        super().__init__(stream or sys.stderr)
        self.addFilter(RequestIdFilter())
        self.setFormatter(
            JsonFormatter(
                "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            )
        )


def configure_logging(app: Flask, stream=None) -> None:
    """With HANDOFF_LOG_FORMAT=json, every line of the program's log (and one per request)
    is a JSON object with the request's id; otherwise Flask's plain lines, as in development.
    """
    logger = logging.getLogger("handoff")
    if app.config["LOG_FORMAT"] != "json":
        return
    if stream is None and any(isinstance(h, JsonLines) for h in logger.handlers):
        return  # configured already (another app in this process)
    for old in list(logger.handlers):
        logger.removeHandler(old)
    logger.addHandler(JsonLines(stream))
    logger.setLevel(app.config["LOG_LEVEL"])
    logger.propagate = False  # one line per record, not one more from the root logger


def _start_request() -> None:
    offered = request.headers.get("X-Request-ID", "")
    g.request_id = offered if REQUEST_ID.match(offered) else uuid.uuid4().hex
    g.request_started = time.perf_counter()


def _finish_request(response):
    started = g.pop("request_started", None)
    if started is None:
        return response
    seconds = time.perf_counter() - started
    endpoint = request.endpoint or "unmatched"  # bounded labels: never the raw path
    REQUEST_SECONDS.labels(endpoint, request.method).observe(seconds)
    REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
    response.headers["X-Request-ID"] = g.request_id
    access_log.info(
        "%s %s %s",
        request.method,
        request.path,
        response.status_code,
        extra={
            "method": request.method,
            "path": request.path,
            "endpoint": endpoint,
            "status": response.status_code,
            "duration_ms": round(seconds * 1000, 1),
            "client": request.remote_addr,
        },
    )
    return response


def install(app: Flask) -> None:
    """Request ids, timing and access lines for every request; /healthz and /metrics."""
    configure_logging(app)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_finish_request)
    csrf.exempt(bp)
    app.register_blueprint(bp)


# --- what the database says -------------------------------------------------------------------


def stale_after() -> timedelta:
    """How old the last round may be before the nagging counts as stopped."""
    configured = current_app.config["SWEEP_STALE_SECONDS"]
    if configured:
        return timedelta(seconds=configured)
    return timedelta(seconds=max(300, 5 * current_app.config["SWEEP_INTERVAL_SECONDS"]))


def _snapshot(now: datetime, statuses: tuple[str, ...] | None = None) -> dict:
    """The shared state worth watching, read in one short transaction: the outbox's messages
    counted by status (of these `statuses` only, if given: each is a range of the status
    index, where every sent message counted is history read again)."""
    counted = select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
    if statuses is not None:
        counted = counted.where(OutboxMessage.status.in_(statuses))
    outbox = dict(db.session.execute(counted).all())
    # the first made of those waiting, read from the status index by id (as min(created_at),
    # SQLite read every message there is: 24 ms at 200,000); ids follow the order of making
    # but for a round's messages, dated its start, so the age may read low by up to a round
    # (or the clocks' difference between machines)
    oldest_pending = db.session.scalar(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.status == "pending")
        .order_by(OutboxMessage.id)
        .limit(1)
    )
    last = db.session.execute(
        select(NaggerProcess).order_by(NaggerProcess.last_round_at.desc()).limit(1)
    ).scalar_one_or_none()
    alive = db.session.scalar(
        select(func.count())
        .select_from(NaggerProcess)
        .where(NaggerProcess.last_round_at > now - stale_after())
    )
    db.session.rollback()
    return {
        "outbox": outbox,
        "oldest_pending": oldest_pending,
        "last_round_at": last.last_round_at if last else None,
        "last_round_seconds": last.last_round_seconds if last else None,
        "last_reminders": last.last_reminders if last else None,
        "last_error": last.last_error if last else "",
        "naggers_alive": alive or 0,
    }


class DatabaseCollector:
    """Gauges read from the database at scrape time, the same whichever process answers."""

    def __init__(self, snapshot: dict, now: datetime):
        self.snapshot, self.now = snapshot, now

    def collect(self):
        outbox = GaugeMetricFamily(
            "handoff_outbox_messages", "Messages in the outbox, by status", labels=["status"]
        )
        for status in ("pending", "sending", "sent", "failed", "withdrawn"):
            outbox.add_metric([status], self.snapshot["outbox"].get(status, 0))
        yield outbox
        oldest = self.snapshot["oldest_pending"]
        yield GaugeMetricFamily(
            "handoff_outbox_oldest_pending_age_seconds",
            "How long the oldest message waiting to be sent has waited",
            value=(self.now - oldest).total_seconds() if oldest else 0,
        )
        last = self.snapshot["last_round_at"]
        yield GaugeMetricFamily(
            "handoff_last_round_timestamp_seconds",
            "When any nagger last finished a round (Unix time; 0: never)",
            value=last.timestamp() if last else 0,
        )
        yield GaugeMetricFamily(
            "handoff_last_round_duration_seconds",
            "How long the last finished round took",
            value=self.snapshot["last_round_seconds"] or 0,
        )
        yield GaugeMetricFamily(
            "handoff_last_round_reminders",
            "Reminders the last finished round recorded",
            value=self.snapshot["last_reminders"] or 0,
        )
        yield GaugeMetricFamily(
            "handoff_naggers_alive",
            "Processes that finished a round recently enough to count as nagging",
            value=self.snapshot["naggers_alive"],
        )


def _own_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def _from_this_machine() -> bool:
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


@bp.get("/metrics")
def metrics():
    """Prometheus metrics: with HANDOFF_METRICS_TOKEN set, for `Bearer <token>` only;
    without one, for this machine only (they show how sign-ins go, among other things)."""
    token = current_app.config["METRICS_TOKEN"]
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        given = given.strip() if scheme.lower() == "bearer" else ""  # (the scheme has no case)
        if not hmac.compare_digest(given.encode(), token.encode()):
            return "A metrics token is required.\n", 401, {"WWW-Authenticate": "Bearer"}
    elif not _from_this_machine():
        return "Set HANDOFF_METRICS_TOKEN to read the metrics from elsewhere.\n", 403
    now = utcnow()
    shared = CollectorRegistry()
    try:
        shared.register(DatabaseCollector(_snapshot(now), now))
        body = _own_metrics() + generate_latest(shared)
    except SQLAlchemyError:
        db.session.rollback()
        BUSY.labels("database").inc()
        body = _own_metrics()  # what this process knows, even with the database away
    return body, 200, {"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"}


HEALTH_OUTBOX = ("pending", "sending", "failed")  # the outbox's states a health check says


def _health(check_sweep: bool):
    now = utcnow()
    try:
        snapshot = _snapshot(now, statuses=HEALTH_OUTBOX)
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("health check: database unreachable: %s", error)
        body = {"status": "unavailable", "database": "unreachable"}
        return jsonify(body), 503, {"Cache-Control": "no-store"}
    last = snapshot["last_round_at"]
    age = (now - last).total_seconds() if last else None
    stale = last is None or now - last > stale_after()
    body = {
        "status": "stale" if stale and check_sweep else "ok",
        "database": "ok",
        "last_round_at": last.isoformat() if last else None,
        "last_round_age_seconds": round(age, 1) if age is not None else None,
        "last_round_seconds": snapshot["last_round_seconds"],
        "last_round_ok": not snapshot["last_error"],  # (what went wrong is in the log)
        "naggers_alive": snapshot["naggers_alive"],
        "outbox": {status: snapshot["outbox"].get(status, 0) for status in HEALTH_OUTBOX},
    }
    status = 503 if stale and check_sweep else 200
    return jsonify(body), status, {"Cache-Control": "no-store"}


@bp.get("/healthz")
def health():
    """For load balancers and monitors: the database answers and nagging is not stale
    (503 when either fails), with the outbox backlog and failures."""
    return _health(check_sweep=True)


@bp.get("/healthz/web")
def health_web():
    """The same, but healthy whatever the naggers do: for a load balancer that should keep a
    web process serving while the nagger is being restarted."""
    return _health(check_sweep=False)


# --- a long-lived web process ----------------------------------------------------------------

WARM_UP_REQUESTS = 3


def freeze_after_warm_up(app: Flask, requests: int = WARM_UP_REQUESTS) -> None:
    """Once the process has served its first requests (the templates compiled, the queries
    cached), move everything it holds out of the cyclic garbage collector's passes.

    A web process keeps its modules, mappers, templates and query caches for its whole life;
    the collector's full pass scanned them all every twentieth request or so (a 60 ms pause
    at p95). Frozen, a pass scans only what requests made since. Counted on requests served
    (after_request), so that a command loading the same app (the nagger, whose mail is
    rendered in request contexts of its own) never freezes.
    """
    served = 0
    frozen = False
    lock = threading.Lock()

    @app.after_request
    def _freeze(response):
        nonlocal served, frozen
        with lock:
            served += 1
            if frozen or served < requests:
                return response
            frozen = True
        gc.collect()
        gc.freeze()
        return response
