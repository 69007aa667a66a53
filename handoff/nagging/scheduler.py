"""APScheduler only decides when a round runs; the round itself is sweep() then dispatch()."""

import logging
import os
from datetime import UTC, datetime

from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from flask import Flask

from handoff.clock import utcnow
from handoff.extensions import db
from handoff.mail import DispatchReport, dispatch
from handoff.nagging.mailing import vet_message
from handoff.nagging.sweep import SweepReport, sweep

log = logging.getLogger(__name__)
_background: BackgroundScheduler | None = None


def run_round(app: Flask, now: datetime | None = None):
    """One round: record what is due, then send what the outbox holds, each digest vetted
    just before it leaves. A sweep that fails still lets the outbox drain, and the other
    way round; the next round tries again."""
    with app.app_context():
        now = now or utcnow()
        report, sent = SweepReport(), DispatchReport()
        try:
            report = sweep(now)
        except Exception:
            log.exception("the sweep at %s failed; the next round tries again", now)
            db.session.rollback()
        try:
            sent = dispatch(now, vet=vet_message)
        except Exception:
            log.exception("sending the outbox at %s failed; the next round tries again", now)
            db.session.rollback()
        finally:
            db.session.remove()
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
    scheduler = BlockingScheduler(timezone=UTC)
    _add_job(scheduler, app)
    scheduler.start()
