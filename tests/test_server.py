"""The deployed shape: gunicorn serving ``wsgi:app`` in production mode.

Exercises the spec's whole flow over real HTTP, as a front end would.
"""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def server(app, app_env):
    """gunicorn on a free port, against the (already migrated) test database."""
    port = free_port()
    env = {**os.environ, **app_env, "APP_ENV": "production", "JWT_SECRET_KEY": "p" * 32}
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "2",
         "--no-control-socket", "wsgi:app"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                pytest.fail(f"gunicorn did not start: {process.stderr.read().decode()}")
            time.sleep(0.1)
    yield base
    process.terminate()
    process.wait(timeout=30)


def call(base, method, path, body=None, token=None):
    request = urllib.request.Request(base + "/api/v1" + path, method=method)
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    return status, json.loads(raw) if raw else None


def test_the_spec_flow_over_http(server):
    user = {"username": "carol", "email": "carol@example.com", "password": "long enough"}
    assert call(server, "POST", "/auth/signup", user) == (201, {"message": "User created successfully"})
    assert call(server, "POST", "/auth/signup", user) == (400, {"detail": "Username or email already exists"})

    status, body = call(server, "POST", "/auth/login", {"email": "carol@example.com", "password": "long enough"})
    assert status == 200 and body["token_type"] == "bearer"
    token = body["access_token"]

    status, task = call(server, "POST", "/tasks", {"title": "Ship it", "due_date": "2027-01-01T09:00:00+01:00"}, token)
    assert status == 201 and task["due_date"] == "2027-01-01T08:00:00+00:00"
    assert call(server, "GET", "/tasks", token=token) == (200, [task])
    status, updated = call(server, "PUT", f"/tasks/{task['id']}", {"completed": True}, token)
    assert status == 200 and updated["completed"] is True
    assert call(server, "DELETE", f"/tasks/{task['id']}", token=token) == (204, None)
    assert call(server, "GET", f"/tasks/{task['id']}", token=token) == (404, {"detail": "Task not found"})
    assert call(server, "GET", "/users/me") == (401, {"detail": "Not authenticated"})
    assert call(server, "POST", "/tasks", {"title": "x", "owner_id": 1}, token)[0] == 422
