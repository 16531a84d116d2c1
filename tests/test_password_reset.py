"""Issue 17: a forgotten password, reset by a one-time link sent over SMTP (or handed out by the operator)."""

import re
import socket
import statistics
import time

import pytest

from tests.conftest import PRODUCTION_KEY, AuthActions, LogLines, free_port, wait_for

RESET = "/api/v1/auth/password-reset"
CONFIRM = "/api/v1/auth/password-reset/confirm"
ME = "/api/v1/users/me"
SENT = {"detail": "If the address has an account, a reset link was sent"}
INVALID = {"detail": "Reset link is invalid or has expired"}
LINK = "https://app.example.com/reset?token={token}"


@pytest.fixture
def mailing(make_app, smtp):
    """An app that mails through the test's SMTP server, and a client of it."""

    def build(**env):
        app = make_app(
            MAIL_SERVER="127.0.0.1",
            MAIL_PORT=str(smtp.port),
            PASSWORD_RESET_URL=LINK,
            MAIL_DEFAULT_SENDER="Task API <tasks@example.com>",
            **env,
        )
        return app, app.test_client()

    return build


def token_of(message):
    """The token in a reset mail's link (its plain-text body)."""
    text = message.get_body(("plain",)).get_content()
    return re.search(r"https://app\.example\.com/reset\?token=([A-Za-z0-9_-]+)", text).group(1)


def mails(smtp, count):
    """The first ``count`` messages the server received, once it has."""
    return wait_for(lambda: smtp.messages[:count] if len(smtp.messages) >= count else None)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


def test_the_whole_reset_flow_over_smtp(mailing, smtp):
    app, client = mailing()
    auth = AuthActions(client)
    assert auth.signup().status_code == 201
    phone, laptop = auth.login().get_json(), auth.login().get_json()

    response = client.post(RESET, json={"email": "Alice@Example.com"})
    assert response.status_code == 202 and response.get_json() == SENT

    (message,) = mails(smtp, 1)
    assert message["To"] == "alice@example.com"
    assert message["From"] == "Task API <tasks@example.com>"
    assert message["Subject"] == "Reset your Task API password"
    token = token_of(message)
    assert len(token) >= 43  # 32 random bytes, URL-safe base64
    html = message.get_body(("html",)).get_content()
    assert f'href="https://app.example.com/reset?token={token}"' in html
    assert "30 minutes" in message.get_body(("plain",)).get_content()

    assert client.post(CONFIRM, json={"token": token, "new_password": "battery staple"}).status_code == 204
    # Every session issued before is over, access and refresh tokens alike, on every device.
    for tokens in (phone, laptop):
        assert client.get(ME, headers=bearer(tokens["access_token"])).status_code == 401
        assert client.post("/api/v1/auth/refresh", headers=bearer(tokens["refresh_token"])).status_code == 401
    assert auth.login().status_code == 401
    assert auth.login(password="battery staple").status_code == 200
    # Used once.
    response = client.post(CONFIRM, json={"token": token, "new_password": "another password"})
    assert response.status_code == 400 and response.get_json() == INVALID
    assert auth.login(password="battery staple").status_code == 200


def test_an_address_without_an_account_gets_the_same_answer_and_no_mail(mailing, smtp):
    _app, client = mailing()
    assert AuthActions(client).signup().status_code == 201
    unknown = client.post(RESET, json={"email": "nobody@example.com"})
    known = client.post(RESET, json={"email": "alice@example.com"})
    assert (unknown.status_code, unknown.data) == (known.status_code, known.data) == (202, known.data)
    assert known.get_json() == SENT
    # The thread sends in order: once the second request's mail is in, the first would have been too.
    (message,) = mails(smtp, 1)
    assert message["To"] == "alice@example.com"
    time.sleep(0.2)
    assert len(smtp.messages) == 1


def test_both_answers_take_about_the_same_time(app, client, auth):
    """The same statements run whether or not the address has an account, and no SMTP work.

    Each request is timed alone: the mail thread's work for a known address
    comes after its answer (and would slow whichever request came next).
    """
    assert auth.signup().status_code == 201
    known, unknown = [], []
    with LogLines(app) as logs:
        for n in range(28):
            for email, times in (("alice@example.com", known), ("nobody@example.com", unknown)):
                start = time.perf_counter()
                assert client.post(RESET, json={"email": email}).status_code == 202
                times.append(time.perf_counter() - start)
                wait_for(lambda sent=n + 1: len(logs.with_message("mail logged: no MAIL_SERVER")) == sent)
    ratio = statistics.median(unknown[3:]) / statistics.median(known[3:])  # after warming up both paths
    assert 0.6 < ratio < 1.6, f"unknown/known reset request time ratio {ratio:.2f}"


def test_a_newer_link_voids_the_older(mailing, smtp):
    _app, client = mailing()
    auth = AuthActions(client)
    assert auth.signup().status_code == 201
    client.post(RESET, json={"email": "alice@example.com"})
    client.post(RESET, json={"email": "alice@example.com"})
    older, newer = (token_of(message) for message in mails(smtp, 2))
    assert client.post(CONFIRM, json={"token": older, "new_password": "battery staple"}).get_json() == INVALID
    assert client.post(CONFIRM, json={"token": newer, "new_password": "battery staple"}).status_code == 204
    assert auth.login(password="battery staple").status_code == 200


def test_an_expired_link_is_refused(mailing, smtp):
    _app, client = mailing(PASSWORD_RESET_TTL_SECONDS="1")
    auth = AuthActions(client)
    assert auth.signup().status_code == 201
    client.post(RESET, json={"email": "alice@example.com"})
    (message,) = mails(smtp, 1)
    assert "within 1 minute:" in message.get_body(("plain",)).get_content()
    time.sleep(1.1)
    response = client.post(CONFIRM, json={"token": token_of(message), "new_password": "battery staple"})
    assert response.status_code == 400 and response.get_json() == INVALID
    assert auth.login().status_code == 200


@pytest.mark.parametrize("token", ["", "not-a-token", "x" * 5000, "ä\u0301"])
def test_a_wrong_token_is_400(client, token):
    response = client.post(CONFIRM, json={"token": token, "new_password": "battery staple"})
    assert response.status_code == 400 and response.get_json() == INVALID


@pytest.mark.parametrize(
    "new_password, message",
    [("short", "Shorter than minimum length 8."), ("ü" * 37, "Must be at most 72 bytes in UTF-8.")],
)
def test_a_bad_new_password_is_422_and_the_link_still_works(mailing, smtp, new_password, message):
    _app, client = mailing()
    auth = AuthActions(client)
    assert auth.signup().status_code == 201
    client.post(RESET, json={"email": "alice@example.com"})
    token = token_of(mails(smtp, 1)[0])
    response = client.post(CONFIRM, json={"token": token, "new_password": new_password})
    assert response.status_code == 422
    assert response.get_json() == {"detail": "Validation error", "errors": {"new_password": [message]}}
    assert new_password not in response.get_data(as_text=True) and token not in response.get_data(as_text=True)
    assert client.post(CONFIRM, json={"token": token, "new_password": "battery staple"}).status_code == 204


@pytest.mark.parametrize(
    "path, body, field",
    [
        (RESET, {}, "email"),
        (RESET, {"email": 5}, "email"),
        (RESET, {"email": "a@b.c", "extra": 1}, "extra"),
        (CONFIRM, {"new_password": "battery staple"}, "token"),
        (CONFIRM, {"token": "t"}, "new_password"),
    ],
)
def test_reset_validation_is_422(client, path, body, field):
    response = client.post(path, json=body)
    assert response.status_code == 422 and field in response.get_json()["errors"]


def test_with_no_mail_server_the_message_is_logged_as_one_json_line(app, client, auth):
    assert auth.signup().status_code == 201
    with LogLines(app) as logs:
        response = client.post(RESET, json={"email": "alice@example.com"})
        (line,) = wait_for(lambda: logs.with_message("mail logged: no MAIL_SERVER"))
    assert line["request_id"] == response.headers["X-Request-ID"] and line["level"] == "INFO"
    assert line["mail"]["to"] == "alice@example.com"
    assert line["mail"]["subject"] == "Reset your Task API password"
    token = re.search(r"token=([A-Za-z0-9_-]+)", line["mail"]["text"]).group(1)
    assert client.post(CONFIRM, json={"token": token, "new_password": "battery staple"}).status_code == 204


def test_production_without_a_mail_server_logs_no_link(make_app):
    app = make_app(APP_ENV="production", JWT_SECRET_KEY=PRODUCTION_KEY)
    client = app.test_client()
    assert AuthActions(client).signup().status_code == 201
    with LogLines(app) as logs:
        response = client.post(RESET, json={"email": "alice@example.com"})
        (line,) = wait_for(lambda: logs.with_message("mail not sent: no MAIL_SERVER"))
    assert response.status_code == 202
    assert line["level"] == "WARNING" and line["request_id"] == response.headers["X-Request-ID"]
    assert "token=" not in str(logs)


def test_a_mail_server_that_is_down_costs_the_request_nothing(make_app):
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(free_port()))  # nothing listens there
    client = app.test_client()
    assert AuthActions(client).signup().status_code == 201
    with LogLines(app) as logs:
        response = client.post(RESET, json={"email": "alice@example.com"})
        assert response.status_code == 202 and response.get_json() == SENT
        (line,) = wait_for(lambda: logs.with_message("mail not sent"))
    assert line["level"] == "ERROR" and line["request_id"] == response.headers["X-Request-ID"]
    assert line["error"].startswith("ConnectionRefusedError") and line["template"] == "password_reset"
    assert "alice@example.com" not in str(logs)


def test_a_slow_mail_server_does_not_hold_the_request(make_app):
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, and never says a word
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(silent.getsockname()[1]), MAIL_TIMEOUT="1")
        client = app.test_client()
        assert AuthActions(client).signup().status_code == 201
        with LogLines(app) as logs:
            start = time.monotonic()
            assert client.post(RESET, json={"email": "alice@example.com"}).status_code == 202
            assert time.monotonic() - start < 0.5
            (line,) = wait_for(lambda: logs.with_message("mail not sent"))
    assert "timed out" in line["error"]


def test_a_full_queue_drops_the_mail_and_says_so(make_app, monkeypatch):
    monkeypatch.setattr("app.mail.QUEUE_SIZE", 1)
    with socket.create_server(("127.0.0.1", 0)) as silent:
        app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=str(silent.getsockname()[1]), MAIL_TIMEOUT="1")
        client = app.test_client()
        assert AuthActions(client).signup().status_code == 201
        with LogLines(app) as logs:
            # The thread holds one message at most, the queue one more: the third has no room.
            assert [client.post(RESET, json={"email": "alice@example.com"}).status_code for _ in range(3)] == [202] * 3
            dropped = logs.with_message("mail dropped: the queue is full")
            assert dropped and dropped[0]["level"] == "ERROR"
            # What is still queued or being sent when the process exits is said to be lost, not lost in silence.
            app.extensions["mail"].finish(0.1)
            assert [line for line in logs if line["message"].startswith("mail dropped: the process exited")]


def test_operator_reset_link(app, client, auth):
    assert auth.signup().status_code == 201
    runner = app.test_cli_runner()
    result = runner.invoke(args=["users", "reset-link", "Alice@example.com"])
    assert result.exit_code == 0, result.output
    link = result.output.strip()
    assert link.startswith("http://localhost:3000/reset-password?token=")
    second = runner.invoke(args=["users", "reset-link", "alice@example.com"]).output.strip()
    # The same rules as a mailed link: the newer voids the older; used once.
    assert (
        client.post(CONFIRM, json={"token": link.split("token=")[1], "new_password": "battery staple"}).status_code
        == 400
    )
    token = second.split("token=")[1]
    assert client.post(CONFIRM, json={"token": token, "new_password": "battery staple"}).status_code == 204
    assert client.post(CONFIRM, json={"token": token, "new_password": "battery staple"}).status_code == 400
    assert auth.login(password="battery staple").status_code == 200

    result = runner.invoke(args=["users", "reset-link", "nobody@example.com"])
    assert result.exit_code == 1 and "no account has that e-mail address" in result.output


def test_an_account_change_voids_its_reset_links(app, client, alice):
    runner = app.test_cli_runner()
    for change in (
        lambda: client.patch(
            ME, json={"email": "alicia@example.com", "current_password": "correct horse"}, headers=alice
        ),
        lambda: client.put(
            f"{ME}/password", json={"current_password": "correct horse", "new_password": "correct horse"}, headers=alice
        ),
    ):
        email = client.get(ME, headers=alice).get_json()["email"]
        link = runner.invoke(args=["users", "reset-link", email]).output.strip()
        assert change().status_code in (200, 204)
        response = client.post(CONFIRM, json={"token": link.split("token=")[1], "new_password": "battery staple"})
        assert response.status_code == 400


def test_deleting_the_account_takes_its_reset_links(app, client, alice):
    link = app.test_cli_runner().invoke(args=["users", "reset-link", "alice@example.com"]).output.strip()
    assert client.delete(ME, json={"current_password": "correct horse"}, headers=alice).status_code == 204
    response = client.post(CONFIRM, json={"token": link.split("token=")[1], "new_password": "battery staple"})
    assert response.status_code == 400
