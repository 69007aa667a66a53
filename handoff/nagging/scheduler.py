"""APScheduler only decides when a round runs; the round itself is sweep() then dispatch()."""

import logging
import os
import time
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask
from sqlalchemy import delete, event

from handoff.accounts.services import forget_old_failures
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, end_session, writing
from handoff.mail import DispatchReport, dispatch, prune_old_bodies
from handoff.metrics import ROUND_FAILURES, observe_round, process_name
from handoff.nagging.mailing import vet_message
from handoff.nagging.models import NaggerProcess
from handoff.nagging.sweep import SweepReport, sweep

log = logging.getLogger(__name__)
_background: BackgroundScheduler | None = None


def run_round(app: Flask, now: datetime | None = None):
    """One round: record what is due, then send what the outbox holds, each digest vetted
    just before it leaves. A sweep that fails still lets the outbox drain, and the other
    way round; the next round tries again. The round is then written down for the health
    check and the metrics."""
    with app.app_context():
        now = now or utcnow()
        started = time.perf_counter()
        report, sent, errors = SweepReport(), DispatchReport(), []
        try:
            report = sweep(now)
        except Exception as error:
            log.exception("the sweep at %s failed; the next round tries again", now)
            errors.append(f"sweep: {error}")
            ROUND_FAILURES.labels("sweep").inc()
            db.session.rollback()
        for job in app.extensions.get("handoff.round_jobs", ()):  # (other concepts' work)
            try:
                job(now)
            except Exception as error:
                log.exception("%s at %s failed; the next round tries again", job.__name__, now)
                errors.append(f"{job.__name__}: {error}")
                db.session.rollback()
        try:
            sent = dispatch(now, vet=vet_message)
        except Exception as error:
            log.exception("sending the outbox at %s failed; the next round tries again", now)
            errors.append(f"mail: {error}")
            ROUND_FAILURES.labels("mail").inc()
            db.session.rollback()
        try:  # history does not pile up: a batch of old mail loses its words each round
            keep = timedelta(days=app.config["MAIL_RETENTION_DAYS"])
            prune_old_bodies(now, keep)
        except Exception:
            log.exception("pruning old mail at %s failed; the next round tries again", now)
            db.session.rollback()
        seconds = time.perf_counter() - started
        observe_round(seconds, report.reminders, sent)
        try:
            _write_down(now, seconds, report, sent, "; ".join(errors))
        except Exception:
            log.exception("could not write down the round at %s", now)
            db.session.rollback()
        finally:
            end_session()  # (a connection the database cut meanwhile is dropped, not raised)
        if report.reminders or report.digests or sent.sent or sent.failed or sent.withdrawn:
            log.info(
                "sweep: %s; mail: %d sent, %d to retry, %d failed, %d withdrawn",
                report,
                sent.sent,
                sent.retrying,
                sent.gave_up,
                sent.withdrawn,
            )
        return report, sent


def _write_down(now: datetime, seconds: float, report, sent, error: str) -> None:
    """This process's last round (what /healthz and /metrics read), and housekeeping: sign-in
    failures past their window, processes silent for a week."""
    name = process_name()
    with writing():
        process = db.session.get(NaggerProcess, name)
        if process is None:
            process = NaggerProcess(name=name, started_at=now, rounds=0)
            db.session.add(process)
        process.last_round_at = now
        process.last_round_seconds = round(seconds, 3)
        process.rounds += 1
        process.last_reminders = report.reminders
        process.last_digests = report.digests
        process.last_sent = sent.sent
        process.last_error = error[:2000]
        forget_old_failures(now)
        db.session.execute(
            delete(NaggerProcess).where(NaggerProcess.last_round_at < now - timedelta(days=7))
        )
        db.session.commit()


def tighten_for_nagging(app: Flask) -> None:
    """On PostgreSQL, cut this process's transactions off after NAGGER_IDLE_IN_TRANSACTION_MS
    idle: a nagger never waits for a person mid-transaction, so one that does is stalled
    (stopped, swapped out, hung on the network) and must let go of the rows it locked."""
    with app.app_context():
        engine = db.engine
        if engine.dialect.name != "postgresql":
            return
        limit = int(app.config["NAGGER_IDLE_IN_TRANSACTION_MS"])

        @event.listens_for(engine, "connect")
        def _cut_off_when_idle(dbapi_connection, _record):
            with dbapi_connection.cursor() as cursor:
                cursor.execute(f"SET idle_in_transaction_session_timeout = {limit}")
            dbapi_connection.commit()

        engine.dispose()  # connections made before this do not have it: make them anew


def _add_job(scheduler, app: Flask) -> None:
    scheduler.add_job(
        run_round,
        "interval",
        args=[app],
        seconds=app.config["SWEEP_INTERVAL_SECONDS"],
        next_run_time=datetime.now(UTC),
        max_instances=1,
        coalesce=True,  # after a pause, one catch-up round, not one per missed tick
        id="sweep",
    )


def start_in_background(app: Flask) -> BackgroundScheduler | None:
    """Start sweeping inside this process, once (under the debug reloader: in the child)."""
    global _background
    if _background is not None:
        return _background
    if app.debug and os.environ.get("WERKZEUG_RUN_MAIN") != "true":
        return None  # the reloader's watcher process: the child it starts sweeps instead
    _background = BackgroundScheduler(timezone=UTC)
    _add_job(_background, app)
    _background.start()
    return _background


def run_forever(app: Flask) -> None:
    """Sweep on the interval until stopped: the `flask nagger` process."""
    tighten_for_nagging(app)
    scheduler = BlockingScheduler(timezone=UTC)
    _add_job(scheduler, app)
    scheduler.start()
