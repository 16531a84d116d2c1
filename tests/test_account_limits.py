"""Issue 17: rate limits on password resets, per client and per e-mail address.

Against gunicorn, as tests/test_security.py tests login's: two workers sharing
Redis when it answers, else one worker counting alone.
"""

from tests.http import call
from tests.test_security import limited_server, shared_store, signup_and_login  # noqa: F401 (a fixture)

RESET = "/auth/password-reset"
CONFIRM = "/auth/password-reset/confirm"


def from_client(address):
    return {"X-Forwarded-For": address}


def test_reset_requests_are_limited_per_email_from_any_client_and_per_client(serve, shared_store):
    base = limited_server(serve, shared_store, RATELIMIT_PASSWORD_RESET="3/minute",
                          RATELIMIT_PASSWORD_RESET_PER_EMAIL="2/minute", PROXY_FIX_X_FOR="1")

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
    statuses = [call(base, "POST", CONFIRM, {"token": f"guess{n}", "new_password": "battery staple"})
                for n in range(4)]
    assert [status for status, _, _ in statuses] == [400, 400, 400, 429]
    assert int(statuses[-1][2]["Retry-After"]) >= 1
