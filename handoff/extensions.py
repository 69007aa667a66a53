"""The web's extensions, created unbound and bound to the app in create_app (the database
object is the kernel's: handoff.kernel.db)."""

from flask_htmx import HTMX
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
htmx = HTMX()
