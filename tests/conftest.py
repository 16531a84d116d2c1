"""One database per test run, built by the migrations; every test starts empty.

The database is PostgreSQL when ``TEST_DATABASE_URL`` names one or a server
answers on 127.0.0.1:5432 (the ``taskapi_test`` database is created there),
and a SQLite file otherwise. ``TEST_DATABASE_URL=sqlite`` forces SQLite.
"""

import email
import email.policy
import json
import logging
import os
import socket
import subprocess
import sys
import threading
import time
import warnings
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import pytest
import redis
from aiosmtpd.controller import Controller
from flask_migrate import upgrade
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from app.observability import JSONFormatter
from config import database_url as config_database_url

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/taskapi_test"
# A JWT_SECRET_KEY production accepts (made by secrets.token_urlsafe(48)), for the tests that start it.
PRODUCTION_KEY = "PQKSnxXetac9wq8AXXraTNq_TGqBaxp5AAzGR0EqlNWL6XVpYgFW_-4n23jE7hSP"
ROOT = Path(__file__).resolve().parent.parent
# The flask commands the tests start read no .env, however pytest was started (as under make).
os.environ["FLASK_SKIP_DOTENV"] = "1"
# Redis for the tests that need one (shared rate limits, and that it holds no logout): its
# database 15, or TEST_REDIS_URL's (so that two checkouts can run their suites side by side).
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL") or "redis://127.0.0.1:6379/15"


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
SHELL_SETTINGS = (
    "JWT_SECRET_KEY",
    "SECRET_KEY",
    "JWT_ACCESS_TOKEN_EXPIRES",
    "JWT_REFRESH_TOKEN_EXPIRES",
    "REDIS_URL",
    "RATELIMIT_STORAGE_URI",
    "PROXY_FIX_X_FOR",
    "CORS_ORIGINS",
    "MAIL_SERVER",
    "MAIL_PORT",
    "MAIL_USERNAME",
    "MAIL_PASSWORD",
    "MAIL_USE_TLS",
    "MAIL_USE_SSL",
    "MAIL_DEFAULT_SENDER",
    "PASSWORD_RESET_URL",
)


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
        for table in (
            "password_resets",
            "task_tombstones",
            "list_departures",
            "tasks",
            "list_members",
            "lists",
            "token_families",
            "users",
            "revoked_sessions",
            "idempotency_keys",
            "alembic_version",
        ):
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
        # Every app logs through one logger, and create_app gives it a handler on the sys.stderr of the
        # moment (a test's capsys): the suite's own handler comes back after the test, for the log lines
        # that mail threads write later.
        monkeypatch.setattr(app.logger, "handlers", list(app.logger.handlers))
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
        # METRICS_PORT: a free one, so that servers of a test, or of two runs, never meet on 9100.
        env = {
            **os.environ,
            **app_env,
            "APP_ENV": "production",
            "JWT_SECRET_KEY": PRODUCTION_KEY,
            "METRICS_PORT": str(free_port()),
            **env,
        }
        for name in SHELL_SETTINGS:
            if name not in env or env[name] is None:
                env.pop(name, None)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "--bind",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                "--no-control-socket",
                "wsgi:app",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
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
                warnings.warn(f"gunicorn did not exit within 45 s of SIGTERM; its log ended:\n{tail}", stacklevel=2)


def together(count, work):
    """Run ``work(n)`` in ``count`` threads released at once; returns their results."""
    barrier = threading.Barrier(count)
    results = [None] * count

    def run(n):
        barrier.wait()
        results[n] = work(n)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def redis_available():
    try:
        return redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping()
    except redis.RedisError:
        return False


@pytest.fixture
def shared_store():
    """Redis when one answers (emptied first), else None: in-memory limits, one worker."""
    if not redis_available():
        return None
    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    return REDIS_TEST_URL


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


def wait_for(condition, seconds=10):
    """``condition()``'s first true value, asked every 20 ms; fails the test after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"still not true after {seconds} s: {condition.__doc__ or condition}")
        time.sleep(0.02)


class SMTPCatcher:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 that keeps the messages it is sent."""

    def __init__(self):
        self.messages = []  # email.message.EmailMessage, in the order received

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp():
    """A mail server of the test's own: ``smtp.port``, ``smtp.messages``."""
    catcher = SMTPCatcher()
    controller = Controller(catcher, hostname="127.0.0.1", port=free_port())
    controller.start()
    catcher.port = controller.port
    yield catcher
    controller.stop()


class LogLines(list):
    """The app's log lines, as the JSON objects they are written as."""

    def __init__(self, flask_app):
        super().__init__()
        formatter = JSONFormatter()
        self.handler = logging.Handler()
        self.handler.emit = lambda record: self.append(json.loads(formatter.format(record)))
        self.logger = flask_app.logger

    def __enter__(self):
        self.logger.addHandler(self.handler)
        return self

    def __exit__(self, *_exc):
        self.logger.removeHandler(self.handler)

    def with_message(self, message):
        return [line for line in self if line["message"] == message]
