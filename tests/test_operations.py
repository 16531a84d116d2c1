"""Probes, request ids, structured logs and the operators' commands."""

import json
import logging
import time

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Task, User
from app.observability import JSONFormatter
from tests.http import call


def test_healthz_needs_no_database(make_app, capsys):
    client = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none?connect_timeout=2").test_client()
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    # ... while readiness says the database is away, and the log says why.
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.get_json() == {"detail": "Service temporarily unavailable"}
    logged = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    assert {
        "level": "ERROR",
        "message": "store unavailable: OperationalError",
        "path": "/readyz",
        "request_id": response.headers["X-Request-ID"],
    }.items() <= logged[-1].items()


def test_readyz_with_the_database(client):
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_a_sane_request_id_is_kept(client):
    response = client.get("/healthz", headers={"X-Request-ID": "lb-7f3a:42"})
    assert response.headers["X-Request-ID"] == "lb-7f3a:42"


@pytest.mark.parametrize("sent", [None, "", "x" * 129, "has space", "new\\nline", "<script>"])
def test_an_insane_request_id_is_replaced(client, sent):
    headers = {} if sent is None else {"X-Request-ID": sent}
    request_id = client.get("/api/v1/nowhere", headers=headers).headers["X-Request-ID"]
    assert request_id != sent and len(request_id) == 32


def test_every_response_has_a_distinct_request_id(client):
    ids = {client.get("/healthz").headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_logs_are_json_lines_with_the_request_id(make_app, capsys):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    response = app.test_client().get("/boom", headers={"X-Request-ID": "trace-1"})
    assert response.status_code == 500
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    (line,) = [entry for entry in lines if entry["message"] == "unhandled error"]
    assert line["level"] == "ERROR" and line["request_id"] == "trace-1" and line["path"] == "/boom"
    assert "RuntimeError: kaput" in line["exception"]


def test_log_level_comes_from_the_environment(make_app):
    assert make_app(LOG_LEVEL="warning").logger.level == 30


def test_every_server_log_line_is_json_the_libraries_too(serve):
    """A library's warning (Flask-Limiter's, as its Redis is away: it counts in memory meanwhile,
    and said so to no one before) comes out as gunicorn's own lines and the app's do: JSON."""
    base = serve(workers=1, RATELIMIT_ENABLED="true", RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    status, _, _ = call(
        base,
        "POST",
        "/auth/login",
        {"email": "eve@example.com", "password": "wrong password"},
        headers={"X-Request-ID": "limiter-away"},
    )
    assert status == 401
    log = serve.processes[-1].log
    deadline = time.monotonic() + 10
    while not any(b"falling back" in line for line in log) and time.monotonic() < deadline:
        time.sleep(0.1)
    logged = [json.loads(line) for line in list(log)]  # any line that is not JSON fails here
    (warning,) = [line for line in logged if line["logger"] == "flask-limiter"]
    assert {
        "level": "WARNING",
        "request_id": "limiter-away",
        "message": "Rate limit storage unreachable - falling back to in-memory storage",
    }.items() <= warning.items()
    assert any(line["logger"] == "gunicorn.error" and line["message"].startswith("Booting worker") for line in logged)


def test_logging_is_set_up_once_however_many_apps(make_app, caplog):
    for _ in range(3):
        app = make_app()
    assert [type(h.formatter) for h in logging.getLogger().handlers].count(JSONFormatter) == 1

    @app.get("/boom")
    def boom():
        raise RuntimeError("kaput")

    app.test_client().get("/boom")  # the app's lines reach the root logger: caplog sees them
    assert [record.getMessage() for record in caplog.records if record.name == "app"] == ["unhandled error"]


def run(app, *args, input=None):
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_users_create_and_list(app):
    result = run(
        app, "users", "create", "--username", "carol", "--email", "Carol@Example.com", "--password", "long enough"
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith("created user ")
    listing = run(app, "users", "list").output.splitlines()
    assert [line.split("\t")[1:3] for line in listing] == [["carol", "carol@example.com"]]
    again = run(app, "users", "create", "--username", "carol", "--email", "c2@example.com", "--password", "long enough")
    assert again.exit_code == 1 and "already exists" in again.output


def test_users_create_asks_for_what_is_missing(app, client):
    result = run(app, "users", "create", input="dave\ndave@example.com\nsecret pass\nsecret pass\n")
    assert result.exit_code == 0, result.output
    assert (
        client.post("/api/v1/auth/login", json={"email": "dave@example.com", "password": "secret pass"}).status_code
        == 200
    )


def test_users_create_applies_the_signup_rules(app):
    result = run(app, "users", "create", "--username", "x", "--email", "bad", "--password", "short")
    assert result.exit_code == 1
    assert "username" in result.output and "email" in result.output and "password" in result.output


def test_seed(app, client):
    result = run(app, "seed", "--users", "3", "--tasks", "10", "--prefix", "demo")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == 3
        assert db.session.scalar(select(func.count()).select_from(Task)) == 10
    login = client.post("/api/v1/auth/login", json={"email": "demo2@example.com", "password": "password123"})
    token = {"Authorization": f"Bearer {login.get_json()['access_token']}"}
    assert client.get("/api/v1/tasks?count=true", headers=token).headers["X-Total-Count"] in ("3", "4")
    # Seeded tasks are in delta sync too, and the next change numbers follow them.
    synced = client.get("/api/v1/tasks/changes", headers=token).get_json()["changes"]
    assert len(synced) == int(client.get("/api/v1/tasks?count=true", headers=token).headers["X-Total-Count"])
    cursor = client.get("/api/v1/tasks/changes", headers=token).get_json()["next_cursor"]
    client.post("/api/v1/tasks", json={"title": "after the seed"}, headers=token)
    assert [
        t["title"]
        for t in client.get("/api/v1/tasks/changes", query_string={"since": cursor}, headers=token).get_json()[
            "changes"
        ]
    ] == ["after the seed"]
    assert run(app, "seed", "--users", "1", "--prefix", "demo").exit_code == 1  # demo1 exists


@pytest.mark.parametrize(
    "options, problem",
    [
        (["--prefix", "a b"], "username"),
        (["--password", "short"], "password"),
        (["--password", "é" * 37], "password"),
        (["--prefix", "x" * 60], "username"),
    ],
)
def test_seed_applies_the_signup_rules(app, options, problem):
    result = run(app, "seed", "--users", "2", "--tasks", "0", *options)
    assert result.exit_code == 1 and problem in result.output and "Traceback" not in result.output


def test_maintenance_runs_every_purge_even_when_one_fails(make_app):
    """The database away: each purge is tried and logged, and the exit status tells the scheduler."""
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    result = run(app, "maintenance", "run")
    assert result.exit_code == 1 and "failed: tokens, idempotency, tombstones" in result.output
    logged = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failures = [line for line in logged if line["message"].endswith("purge failed")]
    assert [line["message"] for line in failures] == [
        "tokens purge failed",
        "idempotency purge failed",
        "tombstones purge failed",
    ]
    assert all("OperationalError" in line["exception"] for line in failures)


@pytest.mark.parametrize(
    "command",
    [
        ["users", "create"],
        ["users", "list"],
        ["users", "reset-link"],
        ["tokens", "purge"],
        ["seed"],
        ["maintenance", "run"],
    ],
)
def test_every_command_has_help(app, command):
    result = run(app, *command, "--help")
    assert result.exit_code == 0 and "Usage:" in result.output


def test_redis_away_neither_stops_the_service_nor_forgets_a_logout(make_app):
    """Redis holds rate-limit counters only, which fall back to each worker's memory: the pod stays
    ready, limits still count, and logouts, kept in the database, still hold."""
    client = make_app(REDIS_URL="redis://127.0.0.1:1/0", RATELIMIT_ENABLED="true").test_client()
    response = client.get("/readyz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert (
        client.post(
            "/api/v1/auth/signup", json={"username": "away", "email": "away@example.com", "password": "away password"}
        ).status_code
        == 201
    )
    tokens = client.post("/api/v1/auth/login", json={"email": "away@example.com", "password": "away password"})
    headers = {"Authorization": "Bearer " + tokens.get_json()["access_token"]}
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/users/me", headers=headers).status_code == 401


def test_database_errors_in_logs_show_no_values(make_app, capsys):
    app = make_app()

    @app.get("/bad-insert")
    def bad_insert():
        # A row the database refuses (no such user): the error names the statement, not the values.
        from app.models import Task

        db.session.add(Task(title="secret title", owner_id=987654321))
        db.session.commit()

    assert app.test_client().get("/bad-insert").status_code == 500
    logged = capsys.readouterr().err
    assert "IntegrityError" in logged and "secret title" not in logged
