"""Entry point: `flask --app app run`."""

from handoff import create_app

app = create_app()
