"""The program's own counters and histograms (prometheus-client), kept by every process:
request latency, 503s, rounds of nagging, what the sender did with each message. /metrics
(handoff.observability) serves them with what the database says."""

import os
import socket

from prometheus_client import Counter, Histogram

REQUEST_SECONDS = Histogram(
    "handoff_request_duration_seconds",
    "Time to answer a request, by route",
    ["endpoint", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REQUESTS = Counter(
    "handoff_requests", "Requests answered, by route and status", ["endpoint", "method", "status"]
)
BUSY = Counter(
    "handoff_busy_answers",
    "Requests answered 503 'try again': a row someone else held past the lock timeout "
    "(lock_wait), or the database out of reach (database)",
    ["reason"],
)
ROUND_SECONDS = Histogram(
    "handoff_round_duration_seconds",
    "Time one round of nagging took (record reminders, write digests, send the outbox)",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
ROUND_REMINDERS = Histogram(
    "handoff_round_reminders",
    "Reminders recorded per round",
    buckets=(0, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 5000),
)
ROUND_FAILURES = Counter("handoff_round_failures", "Steps of a round that failed", ["step"])
MAIL = Counter(
    "handoff_mail",
    "Messages the sender handled, by outcome: sent, retried (back to pending after a "
    "passing error), failed (for good), withdrawn (no longer true when about to leave), "
    "stalled (left to the claim: this process stood still after its last check)",
    ["outcome"],
)
# Every series is there from the start at 0, so that a dashboard or an alert on a rate sees
# it before the first event (a counter that appears with its first increment hides it).
for _reason in ("lock_wait", "database"):
    BUSY.labels(_reason)
for _step in ("sweep", "mail"):
    ROUND_FAILURES.labels(_step)
for _outcome in ("sent", "retried", "failed", "withdrawn", "stalled"):
    MAIL.labels(_outcome)


def busy_answer(error: BaseException) -> None:
    """Count a 503 'try again', by whether a lock wait or the database was the cause."""
    text = str(getattr(error, "orig", error)).lower()
    held = "lock" in text and ("timeout" in text or "locked" in text or "not available" in text)
    BUSY.labels("lock_wait" if held else "database").inc()


def process_name() -> str:
    """This process, as the nagger table names it: host:pid."""
    return f"{socket.gethostname()}:{os.getpid()}"[:120]


def observe_round(seconds: float, reminders: int, mail) -> None:
    """Count one round in this process's metrics."""
    ROUND_SECONDS.observe(seconds)
    ROUND_REMINDERS.observe(reminders)
    for outcome, count in (
        ("sent", mail.sent),
        ("retried", mail.retrying),
        ("failed", mail.gave_up),
        ("withdrawn", mail.withdrawn),
        ("stalled", mail.stalled),
    ):
        if count:
            MAIL.labels(outcome).inc(count)
