"""The web's extensions, created unbound and bound to the app in create_app (the database
object is the kernel's: handoff.kernel.db)."""

from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
# Request limits of the API, per token (handoff.api.routes): counted in this process unless
# RATELIMIT_STORAGE_URI names a shared store (memcached, Redis), as it should with several.
limiter = Limiter(key_func=get_remote_address, default_limits=[], headers_enabled=True)
