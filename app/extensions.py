"""Extension objects, created unbound and bound to an app in ``create_app``.

The libraries' own objects, configured; nothing of the app is imported here.
"""

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


def init_limiter(app):
    """Bind the limiter, and none of its request hooks to the app or a blueprint.

    Flask-Limiter hooks every request of the app, for default and application
    limits, which we have none of: a request to a route without a limit has
    nothing to check, yet ran the hooks' bookkeeping (bench/README.md). A
    limited route's own decorator checks its limits, and runs the limiter's
    after-request hook (the X-RateLimit headers, Retry-After) for that request
    alone (ApiBlueprint.rate_limit, by ``after_this_request``): a request to
    any other route, a task read beside a limited write included, runs none
    of it. (The hook is found as the one the limiter adds to the app; none when
    it is disabled. It runs before the app-wide after-request hooks, so
    app/headers.py sees its headers.)
    """
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    app_wide = [list(registry[None]) for registry in registries]
    limiter.init_app(app)
    added = []
    for registry, before in zip(registries, app_wide, strict=True):
        added.append(registry[None][len(before) :])  # the limiter's own hooks
        registry[None] = before
    _before, after, _teardown = added
    app.extensions["rate_limit_headers"] = after[0] if after else None


# The OpenAPI document and the registry of API blueprints.
api = Api()
