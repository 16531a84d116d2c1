"""Whatever goes wrong, the client gets JSON with a ``detail``, never HTML or a traceback."""

import http.client
import json
from datetime import datetime, timezone
from uuid import UUID

import pytest
from flask import jsonify

TASKS = "/api/v1/tasks"


@pytest.mark.parametrize("path", ["/api/v1/nothing-here", "/api/v1//tasks", "/api/v1/tasks/", "/"])
def test_unknown_route_is_404_json(client, path):
    response = client.get(path)
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Not Found"}


def test_wrong_method_is_405_json_with_allow(client):
    response = client.delete("/api/v1/auth/login")
    assert response.status_code == 405
    assert response.get_json() == {"detail": "Method Not Allowed"}
    assert "POST" in response.headers["Allow"]
    assert response.content_type == "application/json"


@pytest.mark.parametrize("body", ["{", "", "{'title': 'x'}", "nul\x00", '{"title": "x"} extra', "[" * 100_000])
def test_malformed_json_is_400(client, alice, body):
    response = client.post(TASKS, data=body, headers=alice, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Request body is not valid JSON"}


def test_invalid_utf8_is_400(client, alice):
    response = client.post(TASKS, data=b'{"title": "\xff"}', headers=alice, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_non_json_content_type_is_415(client, alice, content_type):
    response = client.post(TASKS, data='{"title": "x"}', headers=alice, content_type=content_type)
    assert response.status_code == 415
    assert response.get_json() == {"detail": "Content-Type must be application/json"}


def test_json_with_charset_is_accepted(client, alice):
    response = client.post(TASKS, data='{"title": "x"}', headers=alice, content_type="application/json; charset=utf-8")
    assert response.status_code == 201


def test_chunked_body_over_the_cap_is_413_json(serve):
    """Without Content-Length the body is cut at the cap: still a 413, not 'not JSON'."""
    base = serve(workers=1)
    connection = http.client.HTTPConnection(base.removeprefix("http://"), timeout=10)
    chunks = (b"x" * 65536 for _ in range(24))  # 1.5 MiB
    connection.request(
        "POST",
        "/api/v1/auth/login",
        body=chunks,
        encode_chunked=True,
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )
    response = connection.getresponse()
    assert response.status == 413
    assert json.loads(response.read()) == {"detail": "Request Entity Too Large"}


def test_body_over_the_cap_is_413_json(client, alice):
    response = client.post(TASKS, json={"title": "x", "description": "y" * (1024 * 1024)}, headers=alice)
    assert response.status_code == 413
    assert response.get_json() == {"detail": "Request Entity Too Large"}


def test_unexpected_error_is_500_json_without_a_traceback(make_app):
    app = make_app()

    @app.get("/boom")
    def boom():
        raise RuntimeError("secret internals")

    response = app.test_client().get("/boom")
    assert response.status_code == 500
    assert response.get_json() == {"detail": "Internal server error"}
    assert "secret internals" not in response.get_data(as_text=True)


def test_database_outage_is_503_json(make_app):
    # Nothing listens on port 1: the connection is refused at once.
    app = make_app(DATABASE_URL="postgresql://postgres@127.0.0.1:1/none?connect_timeout=2")
    response = app.test_client().post("/api/v1/auth/login", json={"email": "a@example.com", "password": "password1"})
    assert response.status_code == 503
    assert response.get_json() == {"detail": "Service temporarily unavailable"}
    assert "127.0.0.1" not in response.get_data(as_text=True)


def test_datetimes_are_written_as_iso_8601(app):
    # Flask's default would write "Sat, 02 Jan 2027 03:04:05 GMT" and sort the keys.
    with app.app_context():
        response = jsonify(at=datetime(2027, 1, 2, 3, 4, 5, tzinfo=timezone.utc), b=1, a=UUID(int=1))
    assert response.get_data(as_text=True).strip() == (
        '{"at":"2027-01-02T03:04:05+00:00","b":1,"a":"00000000-0000-0000-0000-000000000001"}'
    )
