"""Issue 7: a request takes effect completely or answers an error that says so.

Races run real threads against gunicorn (two workers); the outage test stops
and starts a PostgreSQL of its own under the running app; the shutdown test
sends SIGTERM to gunicorn under write load.
"""

import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import Task
from tests.conftest import PRODUCTION_KEY, ROOT, free_port, together
from tests.http import call


def account(base, name="racer"):
    user = {"username": name, "email": f"{name}@example.com", "password": "race password"}
    assert call(base, "POST", "/auth/signup", user)[0] == 201
    return call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]["access_token"]


# --- races -------------------------------------------------------------------


def test_racing_signups_end_in_one_account(serve):
    base = serve()
    body = {"username": "same", "email": "same@example.com", "password": "race password"}
    statuses = together(10, lambda n: call(base, "POST", "/auth/signup", body)[0])
    assert sorted(statuses) == [201] + [400] * 9


def test_racing_updates_all_succeed_and_one_state_wins(serve):
    base = serve()
    token = account(base)
    task = call(base, "POST", "/tasks", {"title": "start"}, token)[1]
    results = together(
        12, lambda n: call(base, "PUT", f"/tasks/{task['id']}", {"title": f"edit {n}", "description": f"by {n}"}, token)
    )
    assert {status for status, _, _ in results} == {200}
    final = call(base, "GET", f"/tasks/{task['id']}", token=token)[1]
    # One writer's whole state, never a mix of two.
    assert final["title"].removeprefix("edit ") == final["description"].removeprefix("by ")
    assert final["title"] in {f"edit {n}" for n in range(12)}


def test_racing_deletes_delete_once(serve):
    base = serve()
    token = account(base)
    task = call(base, "POST", "/tasks", {"title": "doomed"}, token)[1]
    statuses = together(10, lambda n: call(base, "DELETE", f"/tasks/{task['id']}", token=token)[0])
    assert sorted(statuses) == [204] + [404] * 9


def test_racing_creates_all_land_with_distinct_ids(serve):
    base = serve()
    token = account(base)
    results = together(20, lambda n: call(base, "POST", "/tasks", {"title": f"task {n}"}, token))
    assert {status for status, _, _ in results} == {201}
    ids = {body["id"] for _, body, _ in results}
    assert len(ids) == 20
    listed = call(base, "GET", "/tasks?limit=100", token=token)[1]
    assert {task["id"] for task in listed} == ids


def test_racing_password_changes_one_wins_and_none_is_lost(serve):
    """Each is told the truth: one 204, the others refused (400, or 401 once the first has won)."""
    base = serve()
    token = account(base, "changer")
    results = together(
        8,
        lambda n: call(
            base,
            "PUT",
            "/users/me/password",
            {"current_password": "race password", "new_password": f"new password {n}"},
            token,
        )[0],
    )
    assert results.count(204) == 1 and set(results) <= {204, 400, 401}
    winner = results.index(204)
    logins = [
        call(base, "POST", "/auth/login", {"email": "changer@example.com", "password": f"new password {n}"})[0]
        for n in range(8)
    ]
    assert logins == [200 if n == winner else 401 for n in range(8)]  # the password the 204 promised


# --- transactions -------------------------------------------------------------


def test_a_failure_after_the_first_write_leaves_nothing_behind(app, client, alice, monkeypatch):
    """DELETE /tasks/{id} writes three times (change number, delete, tombstone); fail before the last."""
    task = client.post("/api/v1/tasks", json={"title": "keep"}, headers=alice).get_json()
    before = client.get("/api/v1/tasks/changes", headers=alice).get_json()["next_cursor"]

    def fail(*args):
        raise RuntimeError("injected failure")

    monkeypatch.setattr("app.tasks.store.leave_trace", fail)
    response = client.delete(f"/api/v1/tasks/{task['id']}", headers=alice)
    monkeypatch.undo()
    assert response.status_code == 500 and response.get_json() == {"detail": "Internal server error"}
    # Rolled back: the task is still there, no change was counted, and the session serves on.
    assert client.get(f"/api/v1/tasks/{task['id']}", headers=alice).status_code == 200
    after = client.get("/api/v1/tasks/changes", headers=alice).get_json()["next_cursor"]
    assert after == before


# --- graceful shutdown ---------------------------------------------------------


def test_sigterm_under_write_load_loses_nothing(serve, app):
    base = serve(workers=2, GUNICORN_GRACEFUL_TIMEOUT="10")
    token = account(base, "writer")
    created, failures, stop = [], [], threading.Event()

    def write(n):
        while not stop.is_set():
            try:
                status, body, _ = call(base, "POST", "/tasks", {"title": f"w{n}"}, token)
            except OSError:  # refused or reset: the server is going away, nothing was answered
                return
            if status == 201:
                created.append(body["id"])
            else:
                failures.append(status)

    writers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    for writer in writers:
        writer.start()
    time.sleep(1.0)
    master = serve.processes[-1]
    started = time.monotonic()
    master.send_signal(signal.SIGTERM)
    exit_code = master.wait(timeout=30)
    stopped_after = time.monotonic() - started
    stop.set()
    for writer in writers:
        writer.join()

    assert exit_code == 0 and stopped_after < 10 + 2  # within graceful_timeout
    assert failures == []  # no 5xx (nor anything else) while shutting down
    assert len(created) > 20
    with app.app_context():
        stored = set(db.session.scalars(select(Task.id).where(Task.id.in_(created))))
    assert stored == set(created)  # every 201 is in the database


# --- database outage ------------------------------------------------------------


def postgres_bin():
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    return versions[-1].parent if versions else None


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own, which it may stop and start."""
    bin_dir = postgres_bin()
    if bin_dir is None or shutil.which("runuser") is None or os.geteuid() != 0:
        if os.environ.get("CI"):
            pytest.fail("CI needs PostgreSQL's server binaries and root (to run them as postgres)")
        pytest.skip("needs PostgreSQL's server binaries, run as root")
    home = Path(tempfile.mkdtemp(prefix="taskapi-outage-"))
    home.chmod(0o755)
    data = home / "data"
    data.mkdir()
    shutil.chown(data, "postgres", "postgres")
    port = free_port()

    def as_postgres(*command):
        subprocess.run(["runuser", "-u", "postgres", "--", *command], check=True, capture_output=True, timeout=60)

    as_postgres(str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust")

    def start():
        as_postgres(
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1",
            "-l",
            str(data / "log"),
            "-w",
            "start",
        )

    def stop():
        as_postgres(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop")

    start()
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", start, stop
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(home, ignore_errors=True)


def test_connections_the_server_closed_are_replaced_unseen(app, client, alice):
    """Neon suspending its compute, a restart, an administrator: idle pooled connections die.

    The next requests must not see it: app/connections.py notices at checkout,
    without a round trip, and the pool opens new connections.
    """
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL closes connections; SQLite has none to close")
        url = db.engine.url
    for _ in range(3):  # a few connections in the pool
        assert client.get("/api/v1/users/me", headers=alice).status_code == 200
    terminate_other_connections(url)
    for method, path, body in [
        ("get", "/api/v1/users/me", None),
        ("post", "/api/v1/tasks", {"title": "after"}),
        ("get", "/api/v1/tasks", None),
    ]:
        response = getattr(client, method)(path, json=body, headers=alice)
        assert response.status_code < 300, response.get_json()


def terminate_other_connections(url):
    admin = psycopg2.connect(url.set(drivername="postgresql").render_as_string(hide_password=False))
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cur.fetchone()[0] >= 1
    admin.close()
    time.sleep(0.2)  # the server's goodbye reaches the sockets


def test_connections_are_checked_however_many_files_the_worker_holds(app, client, alice):
    """A worker with a thousand client connections open: new database connections get
    descriptors above 1023, which select() refuses (a 500 on every request)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL closes connections; SQLite has none to close")
        db.engine.dispose()  # so that the next request opens a new connection, after the files below
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1200:
        pytest.skip("cannot open 1100 files here")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 1200), hard))
    held = []
    try:
        while not held or held[-1] < 1100:
            held.append(os.open(os.devnull, os.O_RDONLY))
        for _ in range(2):
            response = client.get("/api/v1/users/me", headers=alice)
            assert response.status_code == 200, response.get_json()
    finally:
        for fd in held:
            os.close(fd)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def worker_pids(master, expected=2):
    """The master's worker processes, once all ``expected`` of them are up."""
    deadline = time.monotonic() + 15
    while True:
        pids = set(Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split())
        if len(pids) >= expected or time.monotonic() > deadline:
            return pids
        time.sleep(0.1)


def test_database_outage_fails_fast_and_recovers_without_restart(serve, own_postgres):
    url, start, stop = own_postgres
    env = {k: v for k, v in os.environ.items()}
    env.update(APP_ENV="production", DATABASE_URL=url, JWT_SECRET_KEY=PRODUCTION_KEY)
    subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        timeout=60,
    )
    base = serve(workers=2, DATABASE_URL=url, DB_CONNECT_TIMEOUT="2")
    master = serve.processes[-1]
    token = account(base, "outage")
    assert call(base, "GET", "/readyz", prefix="")[0] == 200
    workers = worker_pids(master)

    stop()
    for path in ("/users/me", "/tasks"):
        began = time.monotonic()
        status, body, headers = call(base, "GET", path, token=token)
        assert (status, body) == (503, {"detail": "Service temporarily unavailable"})
        assert headers["Retry-After"] == "5"
        assert time.monotonic() - began < 5  # fails fast, no hung worker
    assert call(base, "GET", "/readyz", prefix="")[0] == 503
    assert call(base, "GET", "/healthz", prefix="")[0] == 200

    start()
    statuses = [call(base, "GET", "/users/me", token=token)[0] for _ in range(10)]
    assert statuses == [200] * 10  # the dead connections were replaced
    assert call(base, "GET", "/readyz", prefix="")[0] == 200
    assert worker_pids(master) == workers  # the same processes, not restarted
