"""Configuration, read from environment variables with development defaults."""

import os
import secrets
from datetime import timedelta
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
        # PostgreSQL: a request waits at most this long for a row another holds (then 503,
        # "try again"), and a session idle inside a transaction (a stalled process) is cut
        # off after this long, so its locks are released.
        self.DB_LOCK_TIMEOUT_MS = int(env.get("HANDOFF_DB_LOCK_TIMEOUT_MS", "5000"))
        self.DB_IDLE_IN_TRANSACTION_MS = int(env.get("HANDOFF_DB_IDLE_IN_TRANSACTION_MS", "30000"))
        # A nagger never waits for a person inside a transaction, so it is cut off sooner: a
        # nagger stopped mid-round holds its batch's rows for this long at most.
        self.NAGGER_IDLE_IN_TRANSACTION_MS = int(
            env.get("HANDOFF_NAGGER_IDLE_IN_TRANSACTION_MS", "5000")
        )
        # PostgreSQL: a database that does not answer a new connection within this many
        # seconds is out of reach (503 "try again"), not a hang.
        self.DB_CONNECT_TIMEOUT_S = int(env.get("HANDOFF_DB_CONNECT_TIMEOUT_S", "5"))
        # Shown to people whose own time zone is not known yet.
        self.DEFAULT_TIME_ZONE = env.get("HANDOFF_TIME_ZONE", "Europe/Berlin")
        # A pending handoff due within this many hours puts its commitment at risk.
        self.AT_RISK_HOURS = int(env.get("HANDOFF_AT_RISK_HOURS", "24"))
        # How often the board and inbox refresh themselves, in seconds.
        self.REFRESH_SECONDS = int(env.get("HANDOFF_REFRESH_SECONDS", "10"))
        # Requests an API token may make (a limit in the words of Flask-Limiter), and where
        # they are counted: in each process ("memory://"), or in a store the processes share.
        self.API_RATE_LIMIT = env.get("HANDOFF_API_RATE_LIMIT", "6000 per minute")
        self.RATELIMIT_STORAGE_URI = env.get("HANDOFF_RATELIMIT_STORAGE_URI", "memory://")
        # Mail. With no SMTP host, mail stays in the outbox, where admins read it.
        self.SMTP_HOST = env.get("HANDOFF_SMTP_HOST", "")
        self.SMTP_PORT = int(env.get("HANDOFF_SMTP_PORT", "25"))
        self.SMTP_SECURITY = env.get("HANDOFF_SMTP_SECURITY", "none")  # none, starttls or ssl
        self.SMTP_USER = env.get("HANDOFF_SMTP_USER", "")
        self.SMTP_PASSWORD = env.get("HANDOFF_SMTP_PASSWORD", "")
        self.SMTP_TIMEOUT = float(env.get("HANDOFF_SMTP_TIMEOUT", "20"))
        self.MAIL_FROM = env.get("HANDOFF_MAIL_FROM", "handoff@example.com")
        self.MAIL_FROM_NAME = env.get("HANDOFF_MAIL_FROM_NAME", "Handoff")
        # A message being sent is held this long; a dispatcher killed mid-send delays only it,
        # by at most this. Longer than the SMTP timeout, or a slow send could go out twice.
        self.MAIL_CLAIM_SECONDS = int(env.get("HANDOFF_MAIL_CLAIM_SECONDS", "60"))
        if self.MAIL_CLAIM_SECONDS <= self.SMTP_TIMEOUT:
            raise ValueError("HANDOFF_MAIL_CLAIM_SECONDS must be larger than HANDOFF_SMTP_TIMEOUT")
        # Passing troubles (4xx, timeouts, server down) are retried this often, then failed.
        self.MAIL_MAX_ATTEMPTS = int(env.get("HANDOFF_MAIL_MAX_ATTEMPTS", "8"))
        # The words of mail sent or withdrawn this long ago are removed; who, what (the
        # subject), when and where it stands are kept.
        self.MAIL_RETENTION_DAYS = int(env.get("HANDOFF_MAIL_RETENTION_DAYS", "30"))
        # Links in mail start with this; it must be where people reach the app.
        self.PUBLIC_BASE_URL = env.get("HANDOFF_PUBLIC_BASE_URL", "http://127.0.0.1:5000")
        self.LINK_MAX_AGE_DAYS = int(env.get("HANDOFF_LINK_MAX_AGE_DAYS", "7"))
        # Replies to reminders go to reply+…@ this domain (the sender's, if not set), where
        # `flask mail-in` (or the mail server handing it each message) takes them in.
        self.MAIL_IN_DOMAIN = env.get("HANDOFF_MAIL_IN_DOMAIN", "")
        # The name the receiving mail server writes at the head of its Authentication-Results
        # header: set, a reply acts only when that server found its sender's domain authentic
        # (DMARC, or a DKIM signature of the domain, passed), so a forged From is refused too.
        self.MAIL_IN_AUTHSERV_ID = env.get("HANDOFF_MAIL_IN_AUTHSERV_ID", "")
        # Nagging: how often the scheduler sweeps, and at most one digest per address per N min.
        self.SWEEP_INTERVAL_SECONDS = int(env.get("HANDOFF_SWEEP_INTERVAL_SECONDS", "60"))
        self.DIGEST_MIN_MINUTES = int(env.get("HANDOFF_DIGEST_MIN_MINUTES", "15"))
        # At most this many digests a person a day (0: no cap); the rest wait for the morning.
        self.DIGEST_DAILY_CAP = int(env.get("HANDOFF_DIGEST_DAILY_CAP", "12"))
        # A digest tells its most urgent items in full, with their answer buttons, lists the
        # next ones a line each, and counts the rest with a link to where they wait.
        self.DIGEST_ITEMS_IN_FULL = int(env.get("HANDOFF_DIGEST_ITEMS_IN_FULL", "10"))
        self.DIGEST_ITEMS_LISTED = int(env.get("HANDOFF_DIGEST_ITEMS_LISTED", "30"))
        # /healthz answers 503 when no nagger finished a round for this long (0: five sweep
        # intervals, at least 5 minutes).
        self.SWEEP_STALE_SECONDS = int(env.get("HANDOFF_SWEEP_STALE_SECONDS", "0"))
        # Operations: log lines as JSON objects ("json") or plain text; /metrics asks for
        # "Authorization: Bearer <token>" when a token is set.
        self.LOG_FORMAT = env.get("HANDOFF_LOG_FORMAT", "text")
        self.LOG_LEVEL = env.get("HANDOFF_LOG_LEVEL", "INFO").upper()
        self.METRICS_TOKEN = env.get("HANDOFF_METRICS_TOKEN", "")
        # Cookies: Secure when served over HTTPS (HANDOFF_SECURE_COOKIES=1), never read by
        # scripts, not sent along from other sites; "keep me signed in" lasts 30 days at most.
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = env.get("HANDOFF_SECURE_COOKIES", "") == "1"
        self.REMEMBER_COOKIE_SECURE = self.SESSION_COOKIE_SECURE
        self.REMEMBER_COOKIE_HTTPONLY = True
        self.REMEMBER_COOKIE_SAMESITE = "Lax"
        self.REMEMBER_COOKIE_DURATION = timedelta(
            days=min(30, int(env.get("HANDOFF_REMEMBER_DAYS", "30")))
        )
        # Sign-in: this many failures in the window, per account typed from one client
        # address, per account from everywhere, per client address; then the next try waits
        # (429, Retry-After) until the oldest that counts leaves the window.
        self.SIGN_IN_WINDOW_MINUTES = int(env.get("HANDOFF_SIGN_IN_WINDOW_MINUTES", "15"))
        self.SIGN_IN_MAX_FAILURES_PER_ACCOUNT_ADDRESS = int(
            env.get("HANDOFF_SIGN_IN_MAX_FAILURES_PER_ACCOUNT_ADDRESS", "5")
        )
        self.SIGN_IN_MAX_FAILURES_PER_ACCOUNT = int(
            env.get("HANDOFF_SIGN_IN_MAX_FAILURES_PER_ACCOUNT", "50")
        )
        self.SIGN_IN_MAX_FAILURES_PER_ADDRESS = int(
            env.get("HANDOFF_SIGN_IN_MAX_FAILURES_PER_ADDRESS", "20")
        )
        # Behind a reverse proxy: how many proxies to trust for the client's address and
        # scheme (X-Forwarded-For, X-Forwarded-Proto); 0 when clients connect directly.
        self.PROXY_COUNT = int(env.get("HANDOFF_PROXY_COUNT", "0"))
        self.WTF_CSRF_TIME_LIMIT = None  # the token lives as long as the session
        # No form here is bigger than a few kilobytes: a larger body is refused (413) unread.
        self.MAX_CONTENT_LENGTH = 1024 * 1024
