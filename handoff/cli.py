"""`flask --app app …` commands: create the database, an admin, the demo, the nagger."""

import os

import click
from flask import Flask, current_app
from flask_migrate import upgrade
from sqlalchemy import func, select
from werkzeug.serving import run_simple

from handoff.accounts.models import Person
from handoff.kernel.clock import utcnow
from handoff.kernel.db import db, transaction


def register_cli(app: Flask) -> None:
    app.cli.add_command(init_db)
    app.cli.add_command(create_admin)
    app.cli.add_command(load_demo)
    app.cli.add_command(demo)
    app.cli.add_command(sweep_command)
    app.cli.add_command(nagger)
    app.cli.add_command(insights_rebuild)
    app.cli.add_command(api_token)
    app.cli.add_command(mail_in)


@click.command("init-db")
def init_db() -> None:
    """Create the database, or bring its schema up to date."""
    upgrade(directory=current_app.root_path + "/migrations")
    click.echo(f"Database ready: {db.engine.url.render_as_string(hide_password=True)}")


@click.command("create-admin")
@click.option("--email", prompt=True)
@click.option("--name", prompt=True)
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create_admin(email: str, name: str, password: str) -> None:
    """Create an administrator (or make an existing person one)."""
    if len(password) < 8:
        raise click.UsageError("The password needs at least 8 characters.")
    with transaction():
        person = Person.by_email(email)
        if person is None:
            person = Person(email=Person.normalise_email(email), name=name)
            db.session.add(person)
        person.name = name
        person.is_admin = True
        person.set_password(password)
    click.echo(f"{person.name} <{person.email}> is an administrator.")


@click.command("load-demo")
@click.option("--seed", default=7, help="The same seed gives the same organisation.")
def load_demo(seed: int) -> None:
    """Fill an empty database with a demo organisation and its commitments."""
    from handoff.demo import DEMO_PASSWORD, build_demo

    if db.session.scalar(select(func.count(Person.id))):
        raise click.ClickException(
            "The database already has people; load the demo into an empty one."
        )
    with transaction():
        summary = build_demo(seed=seed, progress=click.echo)
    click.echo(summary)
    click.echo(f"Every demo account's password is {DEMO_PASSWORD!r}.")


@click.command("demo")
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
def demo(host: str, port: int) -> None:
    """Run the board with demo data at http://HOST:PORT (the database is set up on first run)."""
    from handoff.demo import DEMO_PASSWORD, build_demo, sign_in_details

    if not os.environ.get("HANDOFF_PUBLIC_BASE_URL"):
        current_app.config["PUBLIC_BASE_URL"] = f"http://{host}:{port}"  # links in mail work
    upgrade(directory=current_app.root_path + "/migrations")
    if not db.session.scalar(select(func.count(Person.id))):
        click.echo("Loading the demo organisation (first run only)…")
        with transaction():
            build_demo(seed=7, progress=click.echo)
    db.session.remove()
    click.echo("")
    click.echo(f"Handoff is running at http://{host}:{port}")
    details = sign_in_details()
    if details:
        click.echo(f"Sign in with any of these (password {DEMO_PASSWORD!r}):")
        for line in details:
            click.echo(f"  {line}")
    else:  # (a database of its own, not the demo's: its people sign in as they always do)
        click.echo("This database was not loaded with the demo: sign in with its own accounts.")
    from handoff.nagging.scheduler import start_in_background

    start_in_background(current_app._get_current_object())
    interval = current_app.config["SWEEP_INTERVAL_SECONDS"]
    click.echo(f"Nagging every {interval} s; with no SMTP server, mail waits in Admin → Outbox.")
    click.echo("")
    # app.run() is a no-op under the flask command, so serve with Werkzeug directly.
    run_simple(host, port, current_app._get_current_object(), threaded=True)


@click.command("sweep")
def sweep_command() -> None:
    """Run one round of nagging now (for cron): record what is due, send the outbox."""
    from handoff.nagging.scheduler import run_round, tighten_for_nagging

    app = current_app._get_current_object()
    tighten_for_nagging(app)
    report, sent = run_round(app)
    click.echo(
        f"{report}; mail: {sent.sent} sent, {sent.retrying} to retry, {sent.gave_up} failed, "
        f"{sent.withdrawn} withdrawn"
    )


@click.command("nagger")
@click.option(
    "--metrics-port",
    type=int,
    default=0,
    help="Serve this process's Prometheus metrics (round times, mail outcomes) on this port.",
)
@click.option("--metrics-host", default="127.0.0.1", help="The address the metrics listen on.")
def nagger(metrics_port: int, metrics_host: str) -> None:
    """Run the scheduler as its own long-lived process (web processes then run none)."""
    from handoff.nagging.scheduler import run_forever

    interval = current_app.config["SWEEP_INTERVAL_SECONDS"]
    if metrics_port:
        from prometheus_client import start_http_server

        start_http_server(metrics_port, addr=metrics_host)
        click.echo(f"Metrics at http://{metrics_host}:{metrics_port}/metrics")
    click.echo(f"Nagging every {interval} s; stop with Ctrl-C.")
    run_forever(current_app._get_current_object())


@click.command("insights-rebuild")
def insights_rebuild() -> None:
    """Count insights' figures anew from the record (after rows were written in bulk, or to
    check them): the kept ones are replaced, in one transaction."""
    from handoff.insights.rebuild import rebuild

    with db.engine.begin() as connection:
        figures = rebuild(connection)
    click.echo(f"Insights' figures counted anew: {len(figures):,} rows of a week.")


@click.group("api-token")
def api_token() -> None:
    """Personal API tokens."""


@api_token.command("create")
@click.option("--email", required=True, help="Whose token: it acts with their rights.")
@click.option("--scope", type=click.Choice(["read", "write"]), default="read", show_default=True)
@click.option("--days", type=click.IntRange(1, 732), default=None, help="Expires after (none).")
@click.option("--name", default="Made on the command line", show_default=True)
def api_token_create(email: str, scope: str, days: int | None, name: str) -> None:
    """Make a token and print it once: only a hash of it is kept."""
    from handoff.api.tokens import create_token
    from handoff.kernel.errors import InvalidInput, NotAllowed

    with transaction():
        person = Person.by_email(email)
        if person is None:
            raise click.UsageError(f"Nobody has the address {email}.")
        try:
            token, secret = create_token(person, name=name, scope=scope, days=days, now=utcnow())
        except (InvalidInput, NotAllowed) as error:
            raise click.UsageError(str(error)) from None
    until = f", until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else ""
    click.echo(f"A {scope} token of {person.name}'s{until}. It is shown this once:", err=True)
    click.echo(secret)


@click.command("mail-in")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=2525, type=int, show_default=True)
@click.option("--stdin", "one", is_flag=True, help="Take one message from standard input.")
def mail_in(host: str, port: int, one: bool) -> None:
    """Take replies to reminders in: an SMTP server for reply+…@ addresses (or one message
    from standard input, for a mail server that pipes each to a command)."""
    import sys
    import time

    from handoff.nagging.mail_in import listener
    from handoff.nagging.replies import take_reply

    if one:
        outcome = take_reply(sys.stdin.buffer.read(), [], utcnow())
        click.echo(f"{outcome.outcome}: {outcome.detail}")
        return
    server = listener(current_app._get_current_object(), host, port)
    server.start()
    click.echo(f"Taking replies to reminders by SMTP on {host}:{port}; stop with Ctrl-C.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
