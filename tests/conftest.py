"""One database per test run, built by the migrations; every test starts empty.

The database is PostgreSQL when ``TEST_DATABASE_URL`` names one or a server
answers on 127.0.0.1:5432 (the ``taskapi_test`` database is created there),
and a SQLite file otherwise. ``TEST_DATABASE_URL=sqlite`` forces SQLite.
"""

import os
from contextlib import contextmanager
import socket
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import psycopg2
import pytest
import redis
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from config import database_url as config_database_url

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/taskapi_test"
ROOT = Path(__file__).resolve().parent.parent
# The flask commands the tests start read no .env, however pytest was started (as under make).
os.environ["FLASK_SKIP_DOTENV"] = "1"
# Redis for the tests that need one (revocations, shared rate limits): its database 15.
REDIS_TEST_URL = "redis://127.0.0.1:6379/15"


def ensure_postgres_database(url):
    """Create the database ``url`` names, on its server; False when no server answers."""
    url = make_url(url)
    server = url.set(drivername="postgresql", database="postgres")
    try:
        conn = psycopg2.connect(server.render_as_string(hide_password=False), connect_timeout=2)
    except psycopg2.OperationalError:
        return False
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{url.database}"')
    conn.close()
    return True


def _sqlite_url(tmp_path_factory):
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = os.environ.get("TEST_DATABASE_URL")
    if url == "sqlite":
        return _sqlite_url(tmp_path_factory)
    if url and make_url(url).get_backend_name() == "postgresql":
        if not ensure_postgres_database(url):
            pytest.exit(f"TEST_DATABASE_URL names a PostgreSQL server that does not answer: {url}", 2)
        return url
    if url:
        return url
    if ensure_postgres_database(LOCAL_POSTGRES):
        return LOCAL_POSTGRES
    return _sqlite_url(tmp_path_factory)


def pytest_report_header(config):
    return f"database: TEST_DATABASE_URL={os.environ.get('TEST_DATABASE_URL', '(auto)')}"


@pytest.fixture(scope="session")
def app_env(database_url):
    """The environment a test deployment runs with."""
    return {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "BCRYPT_LOG_ROUNDS": "4",  # bcrypt's floor: fast tests, same code path
        # Every test signs up from 127.0.0.1; test_security.py turns limits on.
        "RATELIMIT_ENABLED": "false",
    }


# Settings of the developer's shell that must not leak into the test app.
SHELL_SETTINGS = ("JWT_SECRET_KEY", "SECRET_KEY", "JWT_ACCESS_TOKEN_EXPIRES", "JWT_REFRESH_TOKEN_EXPIRES",
                  "REDIS_URL", "RATELIMIT_STORAGE_URI", "PROXY_FIX_X_FOR", "CORS_ORIGINS")


@pytest.fixture(scope="session")
def app(app_env):
    with pytest.MonkeyPatch.context() as mp:
        for name in SHELL_SETTINGS:
            mp.delenv(name, raising=False)
        for name, value in app_env.items():
            mp.setenv(name, value)
        app = create_app()
    with app.app_context():
        db.drop_all()
        db.session.execute(text("DROP TABLE IF EXISTS alembic_version"))
        db.session.commit()
        upgrade()  # the schema comes from the migrations, as in production
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def empty_database(database_url, tmp_path):
    """A database of the suite's kind with nothing in it."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{tmp_path / 'migrations.db'}"
    url = url.set(database=f"{url.database}_migrations")
    assert ensure_postgres_database(url)
    engine = create_engine(config_database_url(url.render_as_string(hide_password=False)))
    with engine.begin() as conn:
        for table in ("task_tombstones", "tasks", "users", "revoked_sessions", "idempotency_keys", "alembic_version"):
            conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}")
    engine.dispose()
    return url.render_as_string(hide_password=False)


@pytest.fixture
def make_app(app, app_env, monkeypatch):
    """Build another app, as the test app but with extra environment variables.

    For tests that point the app elsewhere or add routes to it. It shares the
    suite's database (emptied after the test like any other).
    """
    def build(**env):
        for name in SHELL_SETTINGS:
            monkeypatch.delenv(name, raising=False)
        for name, value in {**app_env, **env}.items():
            monkeypatch.setenv(name, value)
        return create_app()
    return build


@pytest.fixture(autouse=True)
def _empty_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        for table in reversed(db.metadata.sorted_tables):
            db.session.execute(table.delete())
        db.session.commit()


@pytest.fixture
def client(app):
    return app.test_client()


class AuthActions:
    """Sign up and log in through the API, as a client would."""

    def __init__(self, client):
        self.client = client

    def signup(self, username="alice", email="alice@example.com", password="correct horse"):
        return self.client.post(
            "/api/v1/auth/signup", json={"username": username, "email": email, "password": password}
        )

    def login(self, email="alice@example.com", password="correct horse"):
        return self.client.post("/api/v1/auth/login", json={"email": email, "password": password})

    def headers(self, username="alice", email="alice@example.com", password="correct horse"):
        """Sign a new user up and return the Authorization header of their token."""
        assert self.signup(username, email, password).status_code == 201
        token = self.login(email, password).get_json()["access_token"]
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def auth(client):
    return AuthActions(client)


@pytest.fixture
def alice(auth):
    return auth.headers()


@pytest.fixture
def bob(auth):
    return auth.headers("bob", "bob@example.com", "bobs password")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def serve(app, app_env):
    """Start gunicorn serving ``wsgi:app`` in production mode; returns its base URL.

    Started in the repository, gunicorn reads gunicorn.conf.py by itself (the
    options given here override it): the tests serve as the image does.

    ``serve(workers=2, RATELIMIT_ENABLED="true", ...)``: extra keywords are
    environment variables. The database is the suite's, already migrated.
    """
    processes = []

    def start(workers=2, **env):
        port = free_port()
        env = {**os.environ, **app_env, "APP_ENV": "production", "JWT_SECRET_KEY": "p" * 32, **env}
        for name in SHELL_SETTINGS:
            if name not in env or env[name] is None:
                env.pop(name, None)
        process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
             "--no-control-socket", "wsgi:app"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        processes.append(process)
        # Read as it comes: a server that fills the pipe would block on its next log line.
        process.log = []
        threading.Thread(target=lambda: process.log.extend(process.stderr), daemon=True).start()
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return f"http://127.0.0.1:{port}"
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    process.kill()
                    process.wait()
                    pytest.fail(f"gunicorn did not start: {b''.join(process.log).decode()}")
                time.sleep(0.1)

    start.processes = processes  # the gunicorn masters, for tests that signal them
    yield start
    for process in processes:
        if process.poll() is None:
            process.terminate()
            try:
                # Beyond gunicorn's own 30 s graceful timeout. (Graceful shutdown has a test of
                # its own in test_reliability.py; here a slow exit must not fail another test.)
                process.wait(timeout=45)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                tail = b"".join(process.log).decode(errors="replace")[-2000:]
                warnings.warn(f"gunicorn did not exit within 45 s of SIGTERM; its log ended:\n{tail}")


def redis_available():
    try:
        return redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


class Statements(list):
    """The statements run, and whether each ran in autocommit (``.autocommit``)."""


@contextmanager
def counted(app):
    """The statements sent to the database inside the block (tests/test_query_counts.py counts them)."""
    statements = Statements()
    with app.app_context():
        engine = db.engine

    def count(conn, cursor, statement, *args):
        statements.append(statement)
        autocommit.append(getattr(conn.connection.dbapi_connection, "autocommit", None))

    autocommit = statements.autocommit = []

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)
