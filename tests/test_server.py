"""The deployed shape: gunicorn serving ``wsgi:app`` in production mode.

Exercises the spec's whole flow over real HTTP, as a front end would.
"""

import http.client
import json
import re
import socket
import time
import urllib.request
from contextlib import suppress

import pytest

from tests.conftest import free_port
from tests.http import call


def test_the_spec_flow_over_http(serve):
    server = serve()

    def api(method, path, body=None, token=None):
        status, payload, _headers = call(server, method, path, body, token)
        return status, payload

    user = {"username": "carol", "email": "carol@example.com", "password": "long enough"}
    assert api("POST", "/auth/signup", user) == (201, {"message": "User created successfully"})
    assert api("POST", "/auth/signup", user) == (400, {"detail": "Username or email already exists"})

    status, body = api("POST", "/auth/login", {"email": "carol@example.com", "password": "long enough"})
    assert status == 200 and body["token_type"] == "bearer"
    token = body["access_token"]

    status, task = api("POST", "/tasks", {"title": "Ship it", "due_date": "2027-01-01T09:00:00+01:00"}, token)
    assert status == 201 and task["due_date"] == "2027-01-01T08:00:00+00:00"
    assert api("GET", "/tasks", token=token) == (200, [task])
    status, updated = api("PUT", f"/tasks/{task['id']}", {"completed": True}, token)
    assert status == 200 and updated["completed"] is True
    assert api("DELETE", f"/tasks/{task['id']}", token=token) == (204, None)
    assert api("GET", f"/tasks/{task['id']}", token=token) == (404, {"detail": "Task not found"})
    assert api("GET", "/users/me") == (401, {"detail": "Not authenticated"})
    assert api("POST", "/tasks", {"title": "x", "owner_id": 1}, token)[0] == 422


def test_a_long_query_string_is_refused_in_json_not_by_gunicorn(serve):
    """Up to gunicorn's longest request line (8190 bytes, which gunicorn.conf.py sets; gunicorn
    reads that file from the directory it starts in, as it does here), the app answers a query
    string that is too long or wrong, in JSON; gunicorn's default (4094) would answer an HTML 414
    first. Found by Schemathesis (tests/test_fuzz.py)."""
    server = serve()
    user = {"username": "dave", "email": "dave@example.com", "password": "long enough"}
    assert call(server, "POST", "/auth/signup", user)[0] == 201
    token = call(server, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]
    status, body, _headers = call(
        server, "GET", "/tasks/changes?" + "&".join(["limit=9999"] * 600), token=token["access_token"]
    )
    assert status == 422
    assert body["detail"] == "Validation error" and list(body["errors"]) == ["limit"]


def raw_get(base, path, token=None):
    """GET ``path`` exactly as written, with no client tidying it up first: (status, JSON body)."""
    host, port = base.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"} if token else {})
    response = connection.getresponse()
    status, body = response.status, response.read()
    connection.close()
    return status, json.loads(body) if body else None


def test_metrics_are_served_on_their_own_port_with_every_workers_counts(serve):
    """Issue 18: /metrics answered anyone on the API's port; now gunicorn's master serves every
    worker's counts on METRICS_PORT, and the API's port has no such route, however it is spelt."""
    metrics_port = free_port()
    base = serve(workers=2, METRICS_PORT=str(metrics_port))
    user = {"username": "metered", "email": "metered@example.com", "password": "long enough"}
    assert call(base, "POST", "/auth/signup", user)[0] == 201
    token = call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]["access_token"]

    for path in (
        "/metrics",
        "//metrics",
        "/%6detrics",
        "/metrics/",
        "//api/v1/tasks",
        "/api%2Fv1/tasks",
        "/api/v1%2ftasks",
        "//api//v1/tasks",
        "/api/v1/tasks%2F",
    ):
        assert raw_get(base, path, token) == (404, {"detail": "Not Found"}), path
    assert raw_get(base, "/api/v1/tasks", token) == (200, [])  # the control
    assert raw_get(base, f"{base}/api/v1/tasks", token) == (200, [])  # the absolute form is no doubled slash

    for _ in range(12):  # new connections, spread over both workers
        assert call(base, "GET", "/healthz", prefix="")[0] == 200
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    counted = re.search(r'taskapi_http_request_duration_seconds_count\{[^}]*url_rule="/healthz"[^}]*\} (\S+)', metrics)
    assert counted and float(counted.group(1)) == 12.0  # every worker's requests, added up by the master
    assert re.search(r'taskapi_http_request_duration_seconds_count\{[^}]*status="404"', metrics)


def test_a_metrics_port_in_use_stops_the_start(serve):
    """The port is taken (another server, a second copy): gunicorn stops, rather than serve without metrics."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        # The API's port is bound before the metrics' port is tried: it may answer for a moment.
        with suppress(pytest.fail.Exception):
            serve(workers=1, METRICS_PORT=str(taken.getsockname()[1]))
        master = serve.processes[-1]
        assert master.wait(timeout=30) != 0
    time.sleep(0.2)  # the last of its log
    assert "Address already in use" in b"".join(master.log).decode()
