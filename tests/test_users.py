"""GET /api/v1/users/me, and every way a bearer token can be wrong."""

import base64
import itertools
import json
from datetime import timedelta

import jwt as pyjwt
import pytest
from flask_jwt_extended import create_access_token, create_refresh_token
from marshmallow import Schema
from sqlalchemy import delete

from app.blueprint import ApiBlueprint
from app.extensions import db
from app.models import User
from app.schemas import UserSchema
from tests.conftest import REDIS_TEST_URL, AuthActions, redis_available

ME = "/api/v1/users/me"
NOT_AUTHENTICATED = {"detail": "Not authenticated"}


def test_me_returns_the_profile_and_never_the_hash(client, alice):
    response = client.get(ME, headers=alice)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"id", "username", "email"}
    assert isinstance(body["id"], int)
    assert (body["username"], body["email"]) == ("alice", "alice@example.com")


def test_the_account_is_sent_exactly_as_marshmallow_dumps_the_user(app, client, auth):
    """GET and PATCH send the account's row through UserSchema's own dump (app/schemas.py's
    RowSchema): its fields, in its order, as marshmallow's field-by-field dump writes them."""
    headers = auth.headers("Zoë", "zoe@example.com")
    body = client.get(ME, headers=headers).get_json()
    changed = client.patch(
        ME, json={"email": "zoe@example.org", "current_password": "correct horse"}, headers=headers
    ).get_json()
    with app.app_context():
        stored = Schema.dump(UserSchema(), db.session.get(User, body["id"]))  # marshmallow's, not RowSchema's
    assert list(changed.items()) == list(stored.items())
    assert list(body.items()) == list({**stored, "email": "zoe@example.com"}.items())
    assert body["username"] == "Zoë"


def test_each_token_names_its_own_user(client, alice, bob):
    assert client.get(ME, headers=alice).get_json()["username"] == "alice"
    assert client.get(ME, headers=bob).get_json()["username"] == "bob"


def _b64(data):
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _token(app, **kwargs):
    """A token signed with the app's key, in a session like the ones login starts."""
    with app.app_context():
        return create_access_token(additional_claims={"sid": "a-session", "ver": 1, "sxp": 2**32}, **kwargs)


def _user_id(client, headers):
    return client.get(ME, headers=headers).get_json()["id"]


def _bad_authorizations(app, client, alice):
    """Name -> Authorization header value that must not authenticate."""
    user_id = str(_user_id(client, alice))
    token = alice["Authorization"].split()[1]
    header, payload, _signature = token.split(".")
    with app.app_context():
        refresh = create_refresh_token(identity=user_id, additional_claims={"sid": "a-session", "ver": 1})
    claims = pyjwt.decode(token, options={"verify_signature": False})
    return {
        "no scheme": token,
        "wrong scheme": f"Token {token}",
        "scheme only": "Bearer",
        "not a jwt": "Bearer not-a-token",
        "bad base64": "Bearer a.b.c",
        "tampered payload": f"Bearer {header}.{_b64({**claims, 'sub': '999'})}.{_signature}",
        "forged with another key": "Bearer " + pyjwt.encode(claims, "k" * 32, algorithm="HS256"),
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "expired": "Bearer " + _token(app, identity=user_id, expires_delta=timedelta(seconds=-1)),
        "refresh token": f"Bearer {refresh}",
        "subject not a number": "Bearer " + _token(app, identity="alice"),
        "subject out of range": "Bearer " + _token(app, identity=str(2**31)),
        "subject zero": "Bearer " + _token(app, identity="0"),
        "unknown user": "Bearer " + _token(app, identity="987654"),
        "no session": "Bearer " + pyjwt.encode({**claims, "sid": None}, app.config["JWT_SECRET_KEY"]),
        "older token version": "Bearer " + pyjwt.encode({**claims, "ver": 0}, app.config["JWT_SECRET_KEY"]),
    }


def test_every_bad_token_is_401_not_authenticated(app, client, alice):
    for name, value in _bad_authorizations(app, client, alice).items():
        response = client.get(ME, headers={"Authorization": value})
        assert response.status_code == 401, name
        assert response.get_json() == NOT_AUTHENTICATED, name
        assert response.headers["WWW-Authenticate"] == "Bearer", name


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_the_bearer_scheme_is_case_insensitive(client, alice, scheme):
    # Clients build the header from login's "token_type": "bearer".
    token = alice["Authorization"].split()[1]
    assert client.get(ME, headers={"Authorization": f"{scheme} {token}"}).status_code == 200


@pytest.mark.parametrize("headers", [{}, {"Authorization": ""}])
def test_missing_token_is_401(client, headers):
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == NOT_AUTHENTICATED


def test_token_of_a_deleted_user_is_401(app, client, alice):
    with app.app_context():
        db.session.execute(delete(User))
        db.session.commit()
    response = client.get(ME, headers=alice)
    assert response.status_code == 401
    assert response.get_json() == NOT_AUTHENTICATED


def test_a_well_signed_token_of_a_live_session_works(app, client, alice):
    # The control for the cases above: the same construction, valid.
    user_id = str(_user_id(client, alice))
    response = client.get(ME, headers={"Authorization": "Bearer " + _token(app, identity=user_id)})
    assert response.status_code == 200


# Bodies that pass validation, so that only the token can be why a request fails.
VALID_BODIES = {
    ("post", "/api/v1/tasks"): {"title": "t"},
    ("put", "/api/v1/tasks/{task_id}"): {"title": "t"},
    ("patch", "/api/v1/tasks/{task_id}"): {"title": "t"},
    ("patch", ME): {"username": "alicia"},
    ("put", ME + "/password"): {"current_password": "correct horse", "new_password": "another password"},
    ("delete", ME): {"current_password": "correct horse"},
    ("post", "/api/v1/lists"): {"name": "n"},
    ("patch", "/api/v1/lists/{list_id}"): {"name": "n"},
    ("post", "/api/v1/lists/{list_id}/members"): {"username": "bob", "role": "viewer"},
    ("patch", "/api/v1/lists/{list_id}/members/{user_id}"): {"role": "viewer"},
}


def _operations_with_access_tokens(client):
    """(method, path) of every operation the OpenAPI document says takes a bearer access token."""
    spec = client.get("/api/v1/openapi.json").get_json()
    return [
        (method, path)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if method in ("get", "post", "put", "patch", "delete")
        and operation.get("security") == [{"bearerAuth": []}]
        and path != "/api/v1/auth/refresh"
    ]


def _requests(method, path, ids):
    """(url, keyword arguments) of a good request and of bad ones to an operation.

    A bad request must get the token's 401 too, not a 400, 415 or 422 that
    would tell its sender more than that it must log in again.
    """
    body = VALID_BODIES.get((method, path))
    # Alice's task, list and member (bob), and an id that could name nothing at all.
    urls = sorted({_filled(path, ids), _filled(path, dict.fromkeys(ids, 0))})
    for url in urls:
        yield url, {"json": body}
        if method == "get":
            yield url + "?limit=0&sort=nothing&unknown=1", {}
        else:
            yield url, {"data": "{", "content_type": "application/json"}
            yield url, {"data": "title=t", "content_type": "application/x-www-form-urlencoded"}
            yield url, {"json": {"unknown": 1}, "headers": {"Idempotency-Key": " "}}


def _filled(path, ids):
    for name, value in ids.items():
        path = path.replace("{" + name + "}", str(value))
    return path


@pytest.mark.parametrize("store", ["database", "redis"])
def test_every_route_refuses_every_bad_token(request, make_app, store):
    """Some routes check the token's user inside their own statement (app/blueprint.py's
    login_required): every route must refuse every bad token, logged-out sessions included,
    whatever else is wrong with the request, and do nothing."""
    if store == "redis" and not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    app = make_app(REDIS_URL=REDIS_TEST_URL) if store == "redis" else request.getfixturevalue("app")
    client = app.test_client()
    auth = AuthActions(client)
    alice = auth.headers()
    task_id = client.post("/api/v1/tasks", json={"title": "alice's"}, headers=alice).get_json()["id"]
    list_id = client.post("/api/v1/lists", json={"name": "alice's"}, headers=alice).get_json()["id"]
    bob = auth.headers("bob", "bob@example.com", "bobs password")
    member = {"username": "bob", "role": "editor"}
    bob_id = client.post(f"/api/v1/lists/{list_id}/members", json=member, headers=alice).get_json()["user_id"]
    ids = {"task_id": task_id, "list_id": list_id, "user_id": bob_id}
    logged_out = {"Authorization": "Bearer " + auth.login().get_json()["access_token"]}
    assert client.post("/api/v1/auth/logout", headers=logged_out).status_code == 204
    bad = {**_bad_authorizations(app, client, alice), "logged out": logged_out["Authorization"]}
    operations = _operations_with_access_tokens(client)
    assert len(operations) >= 10  # every task and account route, and logout
    for method, path in operations:
        for (url, arguments), (name, value) in itertools.product(_requests(method, path, ids), bad.items()):
            headers = {**arguments.get("headers", {}), "Authorization": value}
            response = client.open(url, method=method.upper(), **{**arguments, "headers": headers})
            assert response.status_code == 401, (method, url, arguments, name)
            assert response.get_json() == NOT_AUTHENTICATED, (method, url, name)
            assert response.headers["WWW-Authenticate"] == "Bearer", (method, url, name)
    # Nothing was done on their behalf.
    assert client.get(f"/api/v1/tasks/{task_id}", headers=alice).get_json()["title"] == "alice's"
    assert client.get("/api/v1/tasks?count=true", headers=alice).headers["X-Total-Count"] == "1"
    assert client.get(ME, headers=alice).get_json()["username"] == "alice"
    assert [row["name"] for row in client.get("/api/v1/lists", headers=bob).get_json()] == ["alice's"]
    assert client.get(f"/api/v1/lists/{list_id}/members", headers=bob).get_json()[1]["role"] == "editor"


def test_a_view_that_runs_no_statement_still_answers_a_dead_token_401(make_app):
    """login_required confirms the signed-in user before any answer leaves, whatever the view did."""
    app = make_app()
    quiet = ApiBlueprint("quiet", __name__)

    @quiet.post("/quiet")
    @quiet.login_required()
    def answer_without_asking(user):
        return {"id": user.id}

    app.register_blueprint(quiet)
    client = app.test_client()
    alice = AuthActions(client).headers()
    assert client.post("/quiet", headers=alice).get_json() == {"id": _user_id(client, alice)}
    assert client.post("/api/v1/auth/logout", headers=alice).status_code == 204
    response = client.post("/quiet", headers=alice)
    assert response.status_code == 401
    assert response.get_json() == NOT_AUTHENTICATED


def test_each_request_checks_its_own_token_in_one_app_context(app, client, alice, bob):
    """As in a script or a test that holds the app context around several requests."""
    assert client.post("/api/v1/auth/logout", headers=bob).status_code == 204
    with app.app_context():
        assert client.get("/api/v1/tasks", headers=alice).status_code == 200
        assert client.get("/api/v1/tasks", headers=bob).status_code == 401
        assert client.get(ME, headers=alice).get_json()["username"] == "alice"
        assert client.get(ME, headers=bob).status_code == 401
