"""Issue 18: a login's session, from login to its end.

Logouts are recorded in the database, whatever Redis does, and kept until the
session's own refresh token expires; refresh tokens rotate, and one used twice
ends the whole login (RFC 9700, 4.14).
"""

import time

import jwt as pyjwt
import pytest
import redis

from tests.conftest import REDIS_TEST_URL, redis_available, together
from tests.http import call

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
# The apps of one test sign with one key, as every replica of a deployment does.
KEY = "a key the apps of one test share, long and varied enough 0123456789"


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def claims(token):
    return pyjwt.decode(token, options={"verify_signature": False})


def logged_in(auth):
    auth.signup()
    return auth.login().get_json()


def works(client, tokens):
    """Whether each of a session's tokens still works: the access token for /users/me, the refresh token to refresh
    (which uses it up, so it is tried last, once)."""
    access = client.get(ME, headers=bearer(tokens["access_token"])).status_code
    refreshed = client.post(REFRESH, headers=bearer(tokens["refresh_token"])).status_code
    return {"access": access == 200, "refresh": refreshed == 200}


# --- rotation ---------------------------------------------------------------


def test_refresh_answers_new_tokens_and_the_presented_one_is_used_up(client, auth):
    login = logged_in(auth)
    response = client.post(REFRESH, headers=bearer(login["refresh_token"]))
    assert response.status_code == 200
    first = response.get_json()
    assert set(first) == {"access_token", "refresh_token", "token_type"} and first["token_type"] == "bearer"
    assert first["refresh_token"] != login["refresh_token"]
    assert client.get(ME, headers=bearer(first["access_token"])).get_json()["username"] == "alice"
    # The new refresh token refreshes in turn; each refresh token of the session expires when the login's does.
    second = client.post(REFRESH, headers=bearer(first["refresh_token"])).get_json()
    assert (
        claims(second["refresh_token"])["exp"]
        == claims(first["refresh_token"])["exp"]
        == claims(login["refresh_token"])["exp"]
    )
    assert claims(second["refresh_token"])["sid"] == claims(login["refresh_token"])["sid"]
    assert client.get(ME, headers=bearer(second["access_token"])).status_code == 200


@pytest.mark.parametrize("reused", ["the login's", "a refreshed one"])
def test_a_used_refresh_token_ends_the_whole_login(client, auth, reused):
    login = logged_in(auth)
    other_login = auth.login().get_json()
    first = client.post(REFRESH, headers=bearer(login["refresh_token"])).get_json()
    second = client.post(REFRESH, headers=bearer(first["refresh_token"])).get_json()
    # A client that ignored the new refresh token kept working until it presented the used one again.
    assert client.get(ME, headers=bearer(first["access_token"])).status_code == 200

    used = login if reused == "the login's" else first
    response = client.post(REFRESH, headers=bearer(used["refresh_token"]))
    assert response.status_code == 401 and response.get_json() == {"detail": "Not authenticated"}
    # Every token of that login, the newest included, is dead; another login is not.
    for tokens in (login, first, second):
        assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 401
    assert client.post(REFRESH, headers=bearer(second["refresh_token"])).status_code == 401
    assert works(client, other_login) == {"access": True, "refresh": True}


def race(base, token, racers=6):
    """``racers`` requests refreshing with ``token`` at once: their (status, body)."""
    return together(racers, lambda _n: call(base, "POST", "/auth/refresh", token=token)[:2])


@pytest.mark.parametrize("refreshed_before", [False, True], ids=["first refresh", "later refresh"])
def test_racing_refreshes_with_one_token_give_new_tokens_once(serve, refreshed_before):
    """Against gunicorn with two workers and the suite's database: of the requests that present
    one refresh token at once, at most one gets new tokens; the others find it used, and the
    login ends, the winner's new tokens included."""
    base = serve(workers=2)
    user = {"username": "racer", "email": "racer@example.com", "password": "racer password"}
    assert call(base, "POST", "/auth/signup", user)[0] == 201
    tokens = call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]
    if refreshed_before:  # the session's row exists: the UPDATE decides
        tokens = call(base, "POST", "/auth/refresh", token=tokens["refresh_token"])[1]
    answers = race(base, tokens["refresh_token"])
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) <= 1 and set(statuses) <= {200, 401}, statuses
    assert statuses.count(401) >= len(answers) - 1
    for status, body in answers:
        if status == 200:  # revoked with the rest of the login
            assert call(base, "GET", "/users/me", token=body["access_token"])[0] == 401
            assert call(base, "POST", "/auth/refresh", token=body["refresh_token"])[0] == 401
    assert call(base, "GET", "/users/me", token=tokens["access_token"])[0] == 401


# --- revocations: the database's, whatever Redis does -----------------------


@pytest.fixture
def redis_db():
    if not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    store = redis.Redis.from_url(REDIS_TEST_URL)
    store.flushdb()
    return store


def test_a_logout_survives_a_redis_flush(make_app, redis_db):
    client = make_app(REDIS_URL=REDIS_TEST_URL, RATELIMIT_ENABLED="true").test_client()
    client.post("/api/v1/auth/signup", json={"username": "flush", "email": "f@example.com", "password": "flush pass"})
    tokens = client.post("/api/v1/auth/login", json={"email": "f@example.com", "password": "flush pass"}).get_json()
    assert client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204
    redis_db.flushdb()  # Redis restarted without persistence, or flushed
    assert works(client, tokens) == {"access": False, "refresh": False}


def test_a_logout_made_before_redis_was_configured_holds_after(make_app, redis_db):
    without_redis = make_app(JWT_SECRET_KEY=KEY).test_client()
    without_redis.post(
        "/api/v1/auth/signup", json={"username": "late", "email": "l@example.com", "password": "late pass"}
    )
    tokens = without_redis.post(
        "/api/v1/auth/login", json={"email": "l@example.com", "password": "late pass"}
    ).get_json()
    assert without_redis.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204
    with_redis = make_app(JWT_SECRET_KEY=KEY, REDIS_URL=REDIS_TEST_URL, RATELIMIT_ENABLED="true").test_client()
    assert works(with_redis, tokens) == {"access": False, "refresh": False}


def test_a_revocation_outlives_a_shorter_refresh_lifetime_set_later(make_app):
    """Tokens issued under 30 days, the service restarted with 1 s: a logout is kept until the
    session's own refresh token expires, not for the lifetime configured now."""
    before = make_app(JWT_SECRET_KEY=KEY).test_client()
    before.post("/api/v1/auth/signup", json={"username": "kept", "email": "k@example.com", "password": "kept pass"})
    tokens = before.post("/api/v1/auth/login", json={"email": "k@example.com", "password": "kept pass"}).get_json()
    after = make_app(JWT_SECRET_KEY=KEY, JWT_ACCESS_TOKEN_EXPIRES="1", JWT_REFRESH_TOKEN_EXPIRES="1")
    client = after.test_client()
    assert client.post(LOGOUT, headers=bearer(tokens["access_token"])).status_code == 204
    time.sleep(2.1)  # past the lifetime configured now
    result = after.test_cli_runner().invoke(args=["tokens", "purge"])
    assert result.exit_code == 0 and result.output.startswith("purged 0 expired revocations")
    assert works(client, tokens) == {"access": False, "refresh": False}


def test_no_token_of_a_session_outlives_its_refresh_token(make_app):
    """An access token issued near a session's end expires with it: so does every token of a
    session the revocation covers."""
    client = make_app(JWT_ACCESS_TOKEN_EXPIRES="3600", JWT_REFRESH_TOKEN_EXPIRES="3600").test_client()
    client.post("/api/v1/auth/signup", json={"username": "ends", "email": "e@example.com", "password": "ends pass"})
    login = client.post("/api/v1/auth/login", json={"email": "e@example.com", "password": "ends pass"}).get_json()
    time.sleep(1.1)
    refreshed = client.post(REFRESH, headers=bearer(login["refresh_token"])).get_json()
    session_ends = claims(login["refresh_token"])["exp"]
    assert claims(refreshed["access_token"])["exp"] == claims(refreshed["access_token"])["sxp"] == session_ends
