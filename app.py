"""Entry point: `flask --app app run`, `gunicorn app:app`."""

from handoff import create_app
from handoff.observability import freeze_after_warm_up

app = create_app()
freeze_after_warm_up(app)
