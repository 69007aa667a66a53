"""The flask commands: create the database, an admin, the demo."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from handoff.accounts.models import Person
from handoff.commitments.models import Commitment, Handoff
from handoff.kernel.db import db


def test_create_admin_makes_an_administrator_who_can_sign_in(app, web_app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=[
            "create-admin",
            "--email",
            "Boss@Example.com",
            "--name",
            "Boss",
            "--password",
            "s3cret-pass",
        ]
    )
    assert result.exit_code == 0, result.output
    db.session.rollback()
    boss = db.session.scalar(select(Person).filter_by(email="boss@example.com"))
    assert boss.is_admin and boss.check_password("s3cret-pass")
    client = web_app.test_client()
    response = client.post("/login", data={"email": "boss@example.com", "password": "s3cret-pass"})
    assert response.status_code == 302


def test_create_admin_refuses_a_short_password(app):
    result = app.test_cli_runner().invoke(
        args=["create-admin", "--email", "a@example.com", "--name", "A", "--password", "short"]
    )
    assert result.exit_code != 0
    assert "at least 8" in result.output


def test_init_db_is_safe_to_run_on_a_migrated_database(app):
    result = app.test_cli_runner().invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output


@pytest.mark.slow_demo
@pytest.mark.parametrize(
    "moment",
    [
        # the moment at which the demo once cancelled nothing (its dice then shifted with
        # the hour; where they cancel nothing, test_demo's fallback test shows what happens)
        datetime(2026, 12, 7, 0, 30, tzinfo=UTC),
        # a department counters after the date it was asked for: its offer is still ahead
        datetime(2026, 12, 8, 3, 17, tzinfo=UTC),
    ],
)
def test_the_demo_fills_every_state_and_refuses_to_load_twice(app, monkeypatch, moment):
    monkeypatch.setattr("handoff.demo.utcnow", lambda: moment)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["load-demo"])
    assert result.exit_code == 0, result.output
    assert "360 commitments" in result.output
    db.session.rollback()
    states = set(db.session.scalars(select(Handoff.state).distinct()))
    assert states == {"pending", "accepted", "countered", "declined", "done", "cancelled"}
    assert db.session.scalar(select(func.count(Commitment.id))) == 360
    again = runner.invoke(args=["load-demo"])
    assert again.exit_code != 0
    assert "already has people" in again.output


def test_bin_demo_passes_its_options_to_the_server(make, database_url, tmp_path):
    """`bin/demo --port N` serves at port N (its options reach the server, not the set-up).
    On a database that already has people the demo is not loaded again, so it starts at once."""
    import os
    import signal
    import socket
    import subprocess
    import time
    import urllib.request
    from pathlib import Path

    make.person("Someone")  # (not empty: no demo to load)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "HANDOFF_DATABASE_URL": database_url}
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(root / "bin" / "demo"), "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        answer = None
        deadline = time.monotonic() + 180  # (a first run installs the project into .venv)
        while time.monotonic() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login", timeout=2) as r:
                    answer = r.status
                    break
            except OSError:
                time.sleep(0.3)
        assert answer == 200, log.read_text()[-2000:]
        assert f"running at http://127.0.0.1:{port}" in log.read_text()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


def test_insights_rebuild_counts_the_figures_anew(app, org, make):
    from handoff.insights.models import WeekFigures

    make.commitment(by=org.ana, owner=org.sales, route=[org.installation, org.billing])
    db.session.execute(WeekFigures.__table__.delete())
    db.session.commit()
    result = app.test_cli_runner().invoke(args=["insights-rebuild"])
    assert result.exit_code == 0, result.output
    assert "2 rows of a week" in result.output
    db.session.rollback()
    assert db.session.scalar(select(func.sum(WeekFigures.handoffs))) == 2
