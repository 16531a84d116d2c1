"""The migrations build the schema the models describe, and can be undone."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from app.extensions import db
from config import database_url as sqlalchemy_url
from tests.conftest import ensure_postgres_database

ROOT = Path(__file__).resolve().parent.parent


def test_models_and_migrations_agree(app):
    """No pending autogenerate changes: a model change needs a migration."""
    with app.app_context(), db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diffs == []


@pytest.fixture
def empty_database(database_url, tmp_path):
    """A database of the suite's kind with nothing in it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    url = url.set(database=f"{url.database}_migrations")
    assert ensure_postgres_database(url)
    engine = create_engine(sqlalchemy_url(url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        for table in ("tasks", "users", "revoked_sessions", "alembic_version"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    engine.dispose()
    return url.render_as_string(hide_password=False)


def flask_db(database_url, *args):
    """Run ``flask --app wsgi db ...`` as an operator would, in production mode."""
    env = {**os.environ, "APP_ENV": "production", "DATABASE_URL": database_url, "JWT_SECRET_KEY": "k" * 32}
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True,
    )


def tables(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade(empty_database):
    flask_db(empty_database, "upgrade")
    assert tables(empty_database) == {"users", "tasks", "revoked_sessions", "alembic_version"}
    flask_db(empty_database, "downgrade", "base")
    assert tables(empty_database) == {"alembic_version"}
    flask_db(empty_database, "upgrade")
    assert "head" in flask_db(empty_database, "current").stdout
