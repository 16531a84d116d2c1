"""The deployed shape: gunicorn serving ``wsgi:app`` in production mode.

Exercises the spec's whole flow over real HTTP, as a front end would.
"""

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
    status, body, _headers = call(server, "GET", "/tasks/changes?" + "&".join(["limit=9999"] * 600),
                                  token=token["access_token"])
    assert status == 422
    assert body["detail"] == "Validation error" and list(body["errors"]) == ["limit"]
