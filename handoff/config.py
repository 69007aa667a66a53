"""Configuration, read from environment variables with development defaults."""

import os
import secrets
from pathlib import Path

INSTANCE_DIR = Path(__file__).resolve().parent.parent / "instance"


def _default_secret_key() -> str:
    """A key kept in the instance folder, so sessions survive a restart in development."""
    path = INSTANCE_DIR / "secret_key"
    if not path.exists():
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
    return path.read_text().strip()


class Config:
    """Every setting the application reads; each one can be set in the environment."""

    def __init__(self) -> None:
        env = os.environ
        self.SECRET_KEY = env.get("HANDOFF_SECRET_KEY") or _default_secret_key()
        self.SQLALCHEMY_DATABASE_URI = env.get(
            "HANDOFF_DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'handoff.db'}"
        )
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Shown to people whose own time zone is not known yet.
        self.DEFAULT_TIME_ZONE = env.get("HANDOFF_TIME_ZONE", "Europe/Berlin")
        # A pending handoff due within this many hours puts its commitment at risk.
        self.AT_RISK_HOURS = int(env.get("HANDOFF_AT_RISK_HOURS", "24"))
        # How often the board and inbox refresh themselves, in seconds.
        self.REFRESH_SECONDS = int(env.get("HANDOFF_REFRESH_SECONDS", "10"))
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env.get("HANDOFF_SECURE_COOKIES", "") == "1"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
