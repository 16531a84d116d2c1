"""Extension objects, created unbound and bound to an app in ``create_app``.

The libraries' own objects, configured; nothing of the app is imported here.
"""

from functools import wraps

from flask import request
from flask_bcrypt import Bcrypt
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData

# Named constraints, so that migrations can drop them again on PostgreSQL and
# in SQLite's batch mode (an unnamed constraint cannot be addressed).
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(
    metadata=MetaData(naming_convention=NAMING_CONVENTION),
    # Every column value is set in Python, so an object is still right after
    # commit; expiring it would cost a SELECT before its next use.
    session_options={"expire_on_commit": False},
)
migrate = Migrate()
bcrypt = Bcrypt()
# The client address is request.remote_addr: right behind a proxy only when
# PROXY_FIX_X_FOR trusts that many hops (see create_app).
limiter = Limiter(key_func=get_remote_address)
# The routes that have a limit, as endpoints ("auth.login"; ApiBlueprint.rate_limit
# adds them, as the route modules are imported: before any app is made).
RATE_LIMITED_ENDPOINTS = set()


def init_limiter(app):
    """Bind the limiter, its request hooks for the routes with a limit only.

    Flask-Limiter hooks every request of the app, for default and application
    limits, which we have none of: a request to another route has nothing to
    check, yet ran the hooks' bookkeeping (bench/README.md). A limited route's
    own decorator checks its limits; the hooks, moved to its blueprint and run
    for its limited routes alone (GET /users/me shares a blueprint with limited
    routes), still add the X-RateLimit headers and Retry-After to its answers.
    (Run before the app-wide after-request hooks, so app/headers.py sees them.)
    """
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    app_wide = [list(registry[None]) for registry in registries]
    limiter.init_app(app)
    blueprints = {endpoint.partition(".")[0] for endpoint in RATE_LIMITED_ENDPOINTS}
    for registry, before in zip(registries, app_wide):
        added = registry[None][len(before):]  # the limiter's own hooks (none when it is disabled)
        registry[None] = before
        for name in blueprints:
            registry[name].extend(_on_limited_routes(hook) for hook in added)


def _on_limited_routes(hook):
    @wraps(hook)
    def run(*args):
        if request.endpoint in RATE_LIMITED_ENDPOINTS:
            return hook(*args)
        return args[0] if args else None  # an after-request hook hands its response on
    return run


# The OpenAPI document and the registry of API blueprints.
api = Api()
