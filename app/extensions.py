"""Extension objects, created unbound and bound to an app in ``create_app``.

The libraries' own objects, configured; nothing of the app is imported here.
"""

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
# The blueprints that limit some route (ApiBlueprint.rate_limit adds them).
RATE_LIMITED_BLUEPRINTS = set()


@limiter.request_filter
def _nothing_to_limit():
    # The limiter's hooks run on every request; a request that no limit
    # concerns skips their bookkeeping (bench/README.md).
    return request.blueprint not in RATE_LIMITED_BLUEPRINTS


# The OpenAPI document and the registry of API blueprints.
api = Api()
