"""Issue 17: rate limits on password resets (per client and per e-mail address) and on every account route (per user).

Against gunicorn, as tests/test_security.py tests login's: two workers sharing
Redis when it answers, else one worker counting alone.
"""

import pytest

from app.blueprint import ApiBlueprint
from tests.http import call
from tests.test_security import limited_server, signup_and_login

RESET = "/auth/password-reset"
CONFIRM = "/auth/password-reset/confirm"


def from_client(address):
    return {"X-Forwarded-For": address}


def test_reset_requests_are_limited_per_email_from_any_client_and_per_client(serve, shared_store):
    base = limited_server(
        serve,
        shared_store,
        RATELIMIT_PASSWORD_RESET="3/minute",
        RATELIMIT_PASSWORD_RESET_PER_EMAIL="2/minute",
        PROXY_FIX_X_FOR="1",
    )

    def reset(email, client):
        return call(base, "POST", RESET, {"email": email}, headers=from_client(client))

    # Per address asked for, whoever asks, and whether or not it has an account.
    assert [reset("victim@example.com", f"203.0.113.{n}")[0] for n in (1, 2)] == [202, 202]
    status, body, headers = reset("Victim@Example.com", "203.0.113.3")
    assert status == 429 and body == {"detail": "Too Many Requests"} and 1 <= int(headers["Retry-After"]) <= 60
    assert reset("other@example.com", "203.0.113.4")[0] == 202
    # Per client address, whatever addresses it asks for.
    assert [reset(f"user{n}@example.com", "198.51.100.7")[0] for n in range(4)] == [202, 202, 202, 429]


def test_reset_confirmations_are_limited_per_client(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_PASSWORD_RESET_CONFIRM="3/minute")
    statuses = [call(base, "POST", CONFIRM, {"token": f"guess{n}", "new_password": "battery staple"}) for n in range(4)]
    assert [status for status, _, _ in statuses] == [400, 400, 400, 429]
    assert int(statuses[-1][2]["Retry-After"]) >= 1


def test_every_account_route_is_limited_per_user(serve, shared_store):
    base = limited_server(
        serve, shared_store, RATELIMIT_ACCOUNT_PASSWORD="2/minute", RATELIMIT_ACCOUNT_CHANGES="3/minute"
    )
    dave = signup_and_login(base)["access_token"]
    erin = signup_and_login(base, "erin", "erin@example.com", "erin password")["access_token"]
    frank = signup_and_login(base, "frank", "frank@example.com", "frank password")["access_token"]
    wrong = {"current_password": "a guess"}

    # Every check of current_password draws on one budget, whichever route it comes by.
    assert call(base, "PUT", "/users/me/password", {**wrong, "new_password": "battery staple"}, token=dave)[0] == 400
    assert call(base, "DELETE", "/users/me", wrong, token=dave)[0] == 400
    for method, path, body in [
        ("PUT", "/users/me/password", {**wrong, "new_password": "battery staple"}),
        ("DELETE", "/users/me", wrong),
        ("PATCH", "/users/me", {"email": "mallory@example.com", **wrong}),
    ]:
        status, answer, headers = call(base, method, path, body, token=dave)
        assert (status, answer) == (429, {"detail": "Too Many Requests"}), (method, path)
        assert int(headers["Retry-After"]) >= 1
    # One user's limit never slows another down.
    assert call(base, "DELETE", "/users/me", wrong, token=erin)[0] == 400

    # Changes of the account have their own budget; a username change checks no password.
    assert [call(base, "PATCH", "/users/me", {"username": f"frank{n}"}, token=frank)[0] for n in range(4)] == [
        200,
        200,
        200,
        429,
    ]
    assert call(base, "PUT", "/users/me/password", {**wrong, "new_password": "battery staple"}, token=frank)[0] == 400

    # A token that does not verify counts against no one: it gets its 401, every time.
    assert {call(base, "DELETE", "/users/me", wrong, token="not-a-token")[0] for _ in range(4)} == {401}


def test_a_per_user_limit_above_login_required_is_refused_at_import():
    """Its key is the token login_required verified: above it, nothing is verified yet."""
    bp = ApiBlueprint("probe", __name__)
    with pytest.raises(TypeError, match="goes under @bp.login_required"):

        @bp.per_user_limit("RATELIMIT_ACCOUNT_CHANGES")
        @bp.login_required()
        def probe(user):
            return user

    @bp.login_required()
    @bp.per_user_limit("RATELIMIT_ACCOUNT_CHANGES")
    def allowed(user):
        return user

    assert allowed.signed_in
