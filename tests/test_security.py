"""Issue 3: accounts and tokens that hold against the OWASP API Top 10.

Rate limits and revocation are tested against gunicorn with two workers, so
they must hold across processes, as they must across replicas.
"""

import statistics
import threading
import time

import flask
import jwt as pyjwt
import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import RevokedSession, utcnow
from tests.conftest import REDIS_TEST_URL, redis_available
from tests.http import call

ME = "/api/v1/users/me"


def limited_server(serve, shared_store, **limits):
    """gunicorn with rate limits on: two workers sharing Redis, or one worker alone."""
    settings = {"RATELIMIT_ENABLED": "true", "RATELIMIT_STORAGE_URI": shared_store or "memory://", **limits}
    return serve(workers=2 if shared_store else 1, **settings)


def signup_and_login(base, username="dave", email="dave@example.com", password="dave password"):
    status, _, _ = call(base, "POST", "/auth/signup", {"username": username, "email": email, "password": password})
    assert status == 201
    status, tokens, _ = call(base, "POST", "/auth/login", {"email": email, "password": password})
    assert status == 200
    return tokens


# --- tokens -----------------------------------------------------------------


def test_an_access_token_cannot_refresh(client, alice):
    response = client.post("/api/v1/auth/refresh", headers=alice)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Not authenticated"}


def test_token_subject_is_the_user_id_as_a_string(app, client, auth):
    auth.signup()
    tokens = auth.login().get_json()
    user_id = client.get(ME, headers={"Authorization": f"Bearer {tokens['access_token']}"}).get_json()["id"]
    for kind in ("access_token", "refresh_token"):
        claims = pyjwt.decode(tokens[kind], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
        assert claims["sub"] == str(user_id)
    access = pyjwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 15 * 60  # short-lived by default


def test_logout_ends_the_session_and_only_that_session(client, auth):
    auth.signup()
    first, second = auth.login().get_json(), auth.login().get_json()
    bearer = {kind: {"Authorization": f"Bearer {first[kind]}"} for kind in first if kind != "token_type"}

    assert client.post("/api/v1/auth/logout", headers=bearer["access_token"]).status_code == 204
    assert client.get(ME, headers=bearer["access_token"]).status_code == 401
    assert client.post("/api/v1/auth/refresh", headers=bearer["refresh_token"]).status_code == 401
    assert client.post("/api/v1/auth/logout", headers=bearer["access_token"]).status_code == 401
    # Another login of the same user is another session, still valid.
    assert client.get(ME, headers={"Authorization": f"Bearer {second['access_token']}"}).status_code == 200


def expire_a_revocation(app):
    with app.app_context():
        db.session.add(RevokedSession(session_id="expired", expires_at=utcnow().replace(year=2000)))
        db.session.commit()


def revoked_session_ids(app):
    with app.app_context():
        return db.session.scalars(select(RevokedSession.session_id)).all()


def test_logout_forgets_expired_revocations(app, client, alice):
    expire_a_revocation(app)
    assert client.post("/api/v1/auth/logout", headers=alice).status_code == 204
    remaining = revoked_session_ids(app)
    assert len(remaining) == 1 and "expired" not in remaining  # only the new one


def test_concurrent_logouts_of_one_session(app, alice):
    attempts = 6
    barrier = threading.Barrier(attempts)
    statuses = []

    def log_out():
        client = app.test_client()
        barrier.wait()
        statuses.append(client.post("/api/v1/auth/logout", headers=alice).status_code)

    threads = [threading.Thread(target=log_out) for _ in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert 204 in statuses and set(statuses) <= {204, 401}
    assert app.test_client().get(ME, headers=alice).status_code == 401


def test_tokens_purge_command(app, client, alice):
    assert client.post("/api/v1/auth/logout", headers=alice).status_code == 204
    expire_a_revocation(app)
    result = app.test_cli_runner().invoke(args=["tokens", "purge"])
    assert result.exit_code == 0 and result.output == "purged 1 expired revocations and 0 expired token families\n"
    assert len(revoked_session_ids(app)) == 1
    assert client.get(ME, headers=alice).status_code == 401  # the live revocation stays


@pytest.mark.parametrize("store", ["database", "redis"])
def test_revocation_holds_in_every_worker(serve, store):
    if store == "redis" and not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    base = serve(workers=2, REDIS_URL=REDIS_TEST_URL if store == "redis" else None)
    tokens = signup_and_login(base)
    assert call(base, "POST", "/auth/logout", token=tokens["access_token"])[0] == 204
    # Every request is a new connection, spread over both workers.
    statuses = {call(base, "GET", "/users/me", token=tokens["access_token"])[0] for _ in range(20)}
    statuses |= {call(base, "POST", "/auth/refresh", token=tokens["refresh_token"])[0] for _ in range(5)}
    assert statuses == {401}


def test_a_remembered_token_is_refused_once_it_expires(make_app):
    """Each worker remembers tokens it verified (app/tokens.py); the expiry still holds."""
    client = make_app(JWT_ACCESS_TOKEN_EXPIRES="2").test_client()
    assert (
        client.post(
            "/api/v1/auth/signup",
            json={"username": "brief", "email": "brief@example.com", "password": "brief password"},
        ).status_code
        == 201
    )
    token = client.post("/api/v1/auth/login", json={"email": "brief@example.com", "password": "brief password"})
    headers = {"Authorization": "Bearer " + token.get_json()["access_token"]}
    assert [client.get(ME, headers=headers).status_code for _ in range(3)] == [200] * 3
    # Verified once, then remembered: the cache is in use (an upgrade of
    # Flask-JWT-Extended that bypasses it fails here, not silently slower).
    remembered = client.application.extensions["verified_tokens"].cache_info()
    assert (remembered.misses, remembered.hits) == (1, 2)
    expires = pyjwt.decode(headers["Authorization"][7:], options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires - time.time()) + 0.1)
    response = client.get(ME, headers=headers)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Not authenticated"}


def test_a_token_remembered_by_one_app_is_not_trusted_by_another_key(client, alice, make_app):
    assert client.get(ME, headers=alice).status_code == 200
    other = make_app(JWT_SECRET_KEY="another key of at least thirty-two bytes").test_client()
    assert other.get(ME, headers=alice).status_code == 401


# --- passwords --------------------------------------------------------------


def test_unknown_email_costs_as_much_as_a_wrong_password(make_app):
    """Timing does not tell who has an account (a ratio of medians, not one sample)."""
    client = make_app(BCRYPT_LOG_ROUNDS="9").test_client()  # bcrypt dominates, as at 12 in production
    assert (
        client.post(
            "/api/v1/auth/signup",
            json={"username": "timing", "email": "timing@example.com", "password": "right password"},
        ).status_code
        == 201
    )

    def seconds(email):
        start = time.perf_counter()
        response = client.post("/api/v1/auth/login", json={"email": email, "password": "wrong password"})
        assert response.status_code == 401
        return time.perf_counter() - start

    known, unknown = [], []
    for _ in range(15):
        known.append(seconds("timing@example.com"))
        unknown.append(seconds("nobody@example.com"))
    ratio = statistics.median(unknown) / statistics.median(known)
    assert 0.6 < ratio < 1.6, f"unknown/known login time ratio {ratio:.2f}"


# --- rate limits ------------------------------------------------------------


def test_logins_per_account_are_limited_and_reset(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_LOGIN_PER_EMAIL="3 per 3 seconds")
    signup_and_login(base)  # counts: every attempt does, whatever its outcome
    wrong = {"email": "dave@example.com", "password": "wrong password"}
    assert [call(base, "POST", "/auth/login", wrong)[0] for _ in range(2)] == [401] * 2

    status, body, headers = call(base, "POST", "/auth/login", {**wrong, "password": "dave password"})
    assert status == 429
    assert body == {"detail": "Too Many Requests"}
    assert 1 <= int(headers["Retry-After"]) <= 3
    # The same account in other letters is the same account.
    assert call(base, "POST", "/auth/login", {**wrong, "email": "DAVE@example.com"})[0] == 429
    # Another account is not locked.
    assert call(base, "POST", "/auth/login", {"email": "erin@example.com", "password": "x"})[0] == 401

    time.sleep(3.1)
    assert call(base, "POST", "/auth/login", {**wrong, "password": "dave password"})[0] == 200


def test_only_a_refused_request_is_told_when_to_retry(serve):
    """A limited route says its limit on every answer, Retry-After only on a 429; an unlimited route says neither."""
    base = limited_server(serve, None, RATELIMIT_LOGIN_PER_EMAIL="2 per minute")
    tokens = signup_and_login(base)
    status, _, headers = call(base, "POST", "/auth/login", {"email": "dave@example.com", "password": "wrong password"})
    assert status == 401 and headers["X-RateLimit-Limit"] == "2" and "Retry-After" not in headers
    status, _, headers = call(base, "POST", "/auth/login", {"email": "dave@example.com", "password": "dave password"})
    assert status == 429 and int(headers["Retry-After"]) >= 1
    status, _, headers = call(base, "GET", "/users/me", token=tokens["access_token"])
    assert status == 200 and not any(name.lower().startswith("x-ratelimit") for name in headers)
    assert "Retry-After" not in headers


def test_concurrent_guesses_cannot_slip_past_the_account_limit(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_LOGIN_PER_EMAIL="3/minute", BCRYPT_LOG_ROUNDS="10")
    guesses = 12
    barrier = threading.Barrier(guesses)
    statuses = []

    def guess(n):
        barrier.wait()
        statuses.append(call(base, "POST", "/auth/login", {"email": "victim@example.com", "password": f"guess {n}"})[0])

    threads = [threading.Thread(target=guess, args=(n,)) for n in range(guesses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [401] * 3 + [429] * (guesses - 3)


def test_malformed_login_bodies_are_limited_per_address_and_never_500(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_LOGIN="4/minute", RATELIMIT_LOGIN_PER_EMAIL="100/minute")
    deep = "[" * 100_000
    statuses = [
        call(base, "POST", "/auth/login", {"email": 5, "password": "x"})[0],
        call(base, "POST", "/auth/login", ["not", "an", "object"])[0],
        call(base, "POST", "/auth/login", headers={"Content-Type": "application/json"}, raw=deep.encode())[0],
        call(base, "POST", "/auth/login", {"email": 5, "password": "x"})[0],
        call(base, "POST", "/auth/login", {"email": 5, "password": "x"})[0],
    ]
    assert statuses == [422, 422, 400, 422, 429]


@pytest.mark.parametrize(
    "path, setting",
    [("/auth/login", "RATELIMIT_LOGIN"), ("/auth/signup", "RATELIMIT_SIGNUP"), ("/auth/refresh", "RATELIMIT_REFRESH")],
)
def test_each_auth_endpoint_is_limited_per_client_address(serve, shared_store, path, setting):
    base = limited_server(serve, shared_store, **{setting: "4/minute"})
    statuses = [
        call(base, "POST", path, {"username": f"user{n}", "email": f"user{n}@example.com", "password": "pw"})[0]
        for n in range(6)
    ]
    assert 429 not in statuses[:4]
    assert statuses[4:] == [429, 429]


def test_forwarded_for_is_ignored_without_a_trusted_proxy(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_LOGIN="3/minute")
    statuses = [
        call(
            base,
            "POST",
            "/auth/login",
            {"email": "a@example.com", "password": "x"},
            headers={"X-Forwarded-For": f"203.0.113.{n}"},
        )[0]
        for n in range(5)
    ]
    assert statuses == [401, 401, 401, 429, 429]


def test_behind_a_trusted_proxy_each_client_has_its_own_limit(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_LOGIN="2/minute", PROXY_FIX_X_FOR="1")

    def login_from(address):
        return call(
            base,
            "POST",
            "/auth/login",
            {"email": "a@example.com", "password": "x"},
            headers={"X-Forwarded-For": address},
        )[0]

    assert [login_from("203.0.113.1") for _ in range(3)] == [401, 401, 429]
    assert login_from("203.0.113.2") == 401
    # A client cannot escape by prepending its own value: the proxy appends the real one.
    assert login_from("198.51.100.7, 203.0.113.1") == 429


# --- headers, CORS, misconfiguration ----------------------------------------


@pytest.mark.parametrize("method, path", [("get", ME), ("get", "/nowhere"), ("post", "/api/v1/auth/login")])
def test_security_headers_on_every_response(client, method, path):
    response = getattr(client, method)(path, json={})
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_no_cookie_session_is_read_or_written(app, client, alice):
    """The API is stateless: Flask's session is a NullSession, which refuses to be written."""
    response = client.get(ME, headers={**alice, "Cookie": "session=eyJ4IjoxfQ.forged.signature"})
    assert response.status_code == 200 and "Set-Cookie" not in response.headers
    with app.test_request_context(ME), pytest.raises(RuntimeError, match="session is unavailable"):
        flask.session["user_id"] = 1


def test_hsts_only_over_https_through_a_trusted_proxy(make_app):
    client = make_app(PROXY_FIX_X_FOR="1").test_client()
    https = client.get(ME, headers={"X-Forwarded-Proto": "https"})
    assert https.headers["Strict-Transport-Security"].startswith("max-age=")
    assert "Strict-Transport-Security" not in client.get(ME).headers


def test_cors_only_for_listed_origins(make_app, client):
    allowed = "https://app.example.com"
    cors_client = make_app(CORS_ORIGINS=f"{allowed}, https://other.example.com").test_client()
    preflight = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "Authorization"}
    response = cors_client.options("/api/v1/tasks", headers={"Origin": allowed, **preflight})
    assert response.headers["Access-Control-Allow-Origin"] == allowed
    response = cors_client.options("/api/v1/tasks", headers={"Origin": "https://evil.example", **preflight})
    assert "Access-Control-Allow-Origin" not in response.headers
    # Without CORS_ORIGINS no origin is allowed.
    response = client.options("/api/v1/tasks", headers={"Origin": allowed, **preflight})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_production_shows_no_version_and_no_debugger(serve):
    base = serve()
    status, body, headers = call(base, "GET", "/nowhere")
    assert status == 404 and body == {"detail": "Not Found"}
    assert not any(ch.isdigit() for ch in headers.get("Server", ""))
    assert "Werkzeug" not in headers.get("Server", "")


def test_login_401_names_the_scheme_and_carries_no_retry_after(client, auth):
    auth.signup()
    response = auth.login(password="wrong password")
    assert response.status_code == 401 and response.headers["WWW-Authenticate"] == "Bearer"
    assert "Retry-After" not in response.headers


def test_no_content_type_without_content(client, alice):
    task = client.post("/api/v1/tasks", json={"title": "x"}, headers=alice).get_json()
    response = client.delete(f"/api/v1/tasks/{task['id']}", headers=alice)
    assert response.status_code == 204 and "Content-Type" not in response.headers
