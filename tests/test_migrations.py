"""The migrations build the schema the models describe, and can be undone."""

import json
import os
import subprocess
import sys
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from app.extensions import db
from config import database_url as sqlalchemy_url
from tests.conftest import PRODUCTION_KEY

ROOT = Path(__file__).resolve().parent.parent


def test_models_and_migrations_agree(app):
    """No pending autogenerate changes: a model change needs a migration."""
    with app.app_context(), db.engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
    assert diffs == []


def flask_db(database_url, *args, **extra_env):
    """Run ``flask --app wsgi db ...`` as an operator would, in production mode."""
    env = {
        **os.environ,
        "APP_ENV": "production",
        "DATABASE_URL": database_url,
        "JWT_SECRET_KEY": PRODUCTION_KEY,
        **extra_env,
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def tables(database_url):
    engine = create_engine(sqlalchemy_url(database_url))
    names = set(inspect(engine).get_table_names())
    engine.dispose()
    return names


def test_upgrade_downgrade_upgrade(empty_database):
    upgraded = flask_db(empty_database, "upgrade").stderr.splitlines()
    # alembic's lines are the app's JSON, not alembic.ini's plain text.
    assert not [line for line in upgraded if "Running upgrade" in line and not line.startswith("{")]
    assert any(json.loads(line)["message"].startswith("Running upgrade") for line in upgraded if line.startswith("{"))
    assert tables(empty_database) == {
        "users",
        "tasks",
        "task_tombstones",
        "revoked_sessions",
        "token_families",
        "idempotency_keys",
        "password_resets",
        "lists",
        "list_members",
        "list_departures",
        "alembic_version",
    }
    flask_db(empty_database, "downgrade", "base")
    assert tables(empty_database) == {"alembic_version"}
    flask_db(empty_database, "upgrade")
    assert "head" in flask_db(empty_database, "current").stdout


def test_migrations_use_migrations_database_url(empty_database):
    """Neon: the app talks to the pooler, migrations to the direct endpoint."""
    unreachable = "postgresql://postgres@127.0.0.1:1/pooler?connect_timeout=2"
    flask_db(unreachable, "upgrade", MIGRATIONS_DATABASE_URL=empty_database)
    assert "revoked_sessions" in tables(empty_database)


def test_the_index_migration_runs_again_after_failing_halfway(empty_database):
    """CREATE INDEX CONCURRENTLY commits as it goes: a run that died after building an index,
    before recording the revision, leaves it behind, and the next upgrade must still go through."""
    flask_db(empty_database, "upgrade", "0005")
    engine = create_engine(sqlalchemy_url(empty_database))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_tasks_owner_id_id ON tasks (owner_id, id)")
    engine.dispose()
    flask_db(empty_database, "upgrade")
    engine = create_engine(sqlalchemy_url(empty_database))
    indexes = {index["name"] for index in inspect(engine).get_indexes("tasks")}
    engine.dispose()
    assert {"ix_tasks_owner_id_id", "ix_tasks_private_open_owner_id_due_date_id"} <= indexes
    assert not {"ix_tasks_owner_id", "ix_tasks_open_owner_id_due_date_id"} & indexes


def test_the_space_index_migration_runs_again_after_failing_halfway(empty_database):
    """0011 builds its indexes as 0006 does: one left built by a run that died before recording it is rebuilt."""
    flask_db(empty_database, "upgrade", "0010")
    engine = create_engine(sqlalchemy_url(empty_database))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE INDEX ix_tasks_list_list_id_id ON tasks (list_id, id)")  # not yet partial
    flask_db(empty_database, "upgrade")
    (partial,) = [
        index for index in inspect(engine).get_indexes("tasks") if index["name"] == "ix_tasks_list_list_id_id"
    ]
    engine.dispose()
    options = partial["dialect_options"]
    where = options.get("postgresql_where", options.get("sqlite_where"))
    assert "list_id IS NOT NULL" in str(where).replace("(", "").replace(")", "")


def test_the_task_count_is_backfilled(empty_database):
    """Users who had tasks before users.task_count existed are counted as the revision adds it."""
    flask_db(empty_database, "upgrade", "0008")
    engine = create_engine(sqlalchemy_url(empty_database))
    with engine.begin() as conn:
        for name in ("many", "none"):
            conn.exec_driver_sql(
                "INSERT INTO users (username, username_key, email, hashed_password, created_at) "
                f"VALUES ('{name}', '{name}', '{name}@example.com', 'x', CURRENT_TIMESTAMP)"
            )
        conn.exec_driver_sql(
            "INSERT INTO tasks (title, created_at, updated_at, owner_id) SELECT 't', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, id FROM users WHERE username = 'many'"
        )
        conn.exec_driver_sql(
            "INSERT INTO tasks (title, created_at, updated_at, owner_id) SELECT 'u', CURRENT_TIMESTAMP, "
            "CURRENT_TIMESTAMP, id FROM users WHERE username = 'many'"
        )
    flask_db(empty_database, "upgrade")
    with engine.connect() as conn:
        counts = dict(conn.exec_driver_sql("SELECT username, task_count FROM users").all())
    engine.dispose()
    assert counts == {"many": 2, "none": 0}


def test_no_deleted_tasks_id_is_handed_out_again_after_the_lists_migration(empty_database):
    """SQLite rebuilds the tasks table to add its list: the highest id handed out must survive the copy."""
    flask_db(empty_database, "upgrade", "0009")
    engine = create_engine(sqlalchemy_url(empty_database))
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO users (username, username_key, email, hashed_password, created_at) "
            "VALUES ('u', 'u', 'u@example.com', 'x', CURRENT_TIMESTAMP)"
        )
        for title in ("kept", "deleted"):
            conn.exec_driver_sql(
                "INSERT INTO tasks (title, completed, created_at, updated_at, owner_id) "
                f"SELECT '{title}', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, id FROM users"
            )
        conn.exec_driver_sql("DELETE FROM tasks WHERE title = 'deleted'")
    flask_db(empty_database, "upgrade")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO tasks (title, completed, created_at, updated_at, owner_id) "
            "SELECT 'new', false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, id FROM users"
        )
        ids = dict(conn.exec_driver_sql("SELECT title, id FROM tasks").all())
    engine.dispose()
    assert ids == {"kept": 1, "new": 3}
