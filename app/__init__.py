"""The application factory: reads as the table of contents of the service."""

from flask import Flask

from config import load_config

from .auth.routes import bp as auth_bp
from .errors import register_error_handlers
from .extensions import bcrypt, db, jwt, migrate
from .json_provider import JSONProvider
from .security import init_jwt
from .tasks.routes import bp as tasks_bp
from .users.routes import bp as users_bp

API_PREFIX = "/api/v1"


def create_app(settings=None):
    """Build the app from the environment; ``settings`` override it (tests)."""
    app = Flask(__name__, instance_relative_config=True, static_folder=None)
    app.json_provider_class = JSONProvider
    app.json = JSONProvider(app)
    app.config.from_mapping(load_config(app.instance_path))
    app.config.from_mapping(settings or {})

    db.init_app(app)
    migrate.init_app(app, db, render_as_batch=True, compare_type=True)
    jwt.init_app(app)
    bcrypt.init_app(app)
    init_jwt()

    for blueprint in (auth_bp, users_bp, tasks_bp):
        app.register_blueprint(blueprint, url_prefix=API_PREFIX + blueprint.url_prefix)

    register_error_handlers(app)
    return app
