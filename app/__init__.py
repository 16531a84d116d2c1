"""The application factory: reads as the table of contents of the service."""

from flask import Flask
from flask_cors import CORS
from werkzeug.middleware.proxy_fix import ProxyFix

from config import load_config

from .auth.routes import bp as auth_bp
from .cli import init_cli
from .connections import init_connections
from .docs import bp as docs_bp
from .errors import refuse_doubled_or_encoded_slashes, register_error_handlers
from .extensions import api, bcrypt, db, init_limiter, migrate
from .headers import init_headers
from .health import bp as health_bp
from .json_provider import JSONProvider
from .lists.routes import bp as lists_bp
from .mail import init_mail
from .observability import init_metrics, init_observability
from .revocation import init_revocations
from .schemas import ErrorSchema
from .tasks.routes import bp as tasks_bp
from .tokens import init_tokens
from .users.routes import bp as users_bp

API_PREFIX = "/api/v1"


def create_app():
    """Build the app from the environment (see config.py)."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.url_map.merge_slashes = False  # "//tasks" is a 404, not an HTML redirect
    app.before_request(refuse_doubled_or_encoded_slashes)  # "//api/v1/tasks" too, and "%2F"
    app.json = JSONProvider(app)
    app.config.from_mapping(load_config(app.instance_path))

    init_observability(app)
    init_metrics(app)
    db.init_app(app)
    init_connections(app)  # the engine's listeners
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    init_tokens(app)
    init_revocations(app)
    bcrypt.init_app(app)
    init_limiter(app)  # its hooks only on routes with a limit
    init_headers(app)
    init_mail(app)  # its thread starts with the first message, in the process that sends it
    if app.config["CORS_ORIGINS"]:
        CORS(
            app,
            resources={API_PREFIX + "/*": {"origins": app.config["CORS_ORIGINS"]}},
            expose_headers=["ETag", "Idempotent-Replayed", "Link", "Retry-After", "X-Request-ID", "X-Total-Count"],
            max_age=600,
        )
    if app.config["PROXY_FIX_X_FOR"]:
        hops = app.config["PROXY_FIX_X_FOR"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)

    api.ERROR_SCHEMA = ErrorSchema
    api.init_app(app)
    for blueprint in (auth_bp, users_bp, tasks_bp, lists_bp):
        api.register_blueprint(blueprint, url_prefix=API_PREFIX + blueprint.url_prefix)
    api.register_blueprint(health_bp)
    app.register_blueprint(docs_bp)

    register_error_handlers(app)
    init_cli(app)
    return app
