"""POST /api/v1/auth/signup and /api/v1/auth/login."""

import threading

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import User

SIGNUP = "/api/v1/auth/signup"
LOGIN = "/api/v1/auth/login"


def test_signup_creates_an_account_that_can_log_in(auth):
    response = auth.signup()
    assert response.status_code == 201
    assert response.get_json() == {"message": "User created successfully"}

    response = auth.login()
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type"}
    assert body["token_type"] == "bearer"
    assert body["access_token"].count(".") == 2  # a JWT
    assert body["refresh_token"].count(".") == 2


def test_password_is_stored_as_a_bcrypt_hash(app, auth):
    auth.signup(password="correct horse")
    with app.app_context():
        stored = db.session.scalar(select(User.hashed_password))
    assert stored.startswith("$2b$04$")  # bcrypt at the configured work factor
    assert "correct horse" not in stored


@pytest.mark.parametrize(
    "username, email",
    [
        ("alice", "other@example.com"),  # same username
        ("ALICE", "other@example.com"),  # usernames are one whatever their case
        ("ａｌｉｃｅ", "other@example.com"),  # full-width look-alike letters
        ("other", "alice@example.com"),  # same e-mail
        ("other", "Alice@Example.COM"),  # e-mails are one whatever their case
    ],
)
def test_duplicate_signup_is_400(auth, username, email):
    assert auth.signup().status_code == 201
    response = auth.signup(username=username, email=email)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Username or email already exists"}


@pytest.mark.parametrize("first, second", [("Ünïcode", "ünÏCODE"), ("Straße", "STRASSE"), ("Σίσυφος", "ΣΊΣΥΦΟΣ")])
def test_usernames_are_case_insensitive_in_every_script(auth, first, second):
    assert auth.signup(username=first, email="one@example.com").status_code == 201
    response = auth.signup(username=second, email="two@example.com")
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Username or email already exists"}


def test_email_that_lower_casing_makes_too_long_is_422(client):
    # 254 characters as sent; "İ".lower() is two characters, so 318 once stored.
    email = "İ" * 64 + "@" + "a" * 63 + "." + "b" * 63 + "." + "c" * 57 + ".com"
    assert len(email) == 254
    response = client.post(SIGNUP, json={"username": "dotted", "email": email, "password": "password1"})
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["email"]


def test_email_is_stored_lower_case_and_login_ignores_case(auth):
    auth.signup(email="Alice@Example.COM")
    token = auth.login(email="ALICE@example.com").get_json()["access_token"]
    me = auth.client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"})
    assert me.get_json()["email"] == "alice@example.com"


def test_concurrent_duplicate_signups_end_in_one_201(app):
    """Signups racing for one account: the unique index decides, never a 500."""
    attempts = 6
    barrier = threading.Barrier(attempts)
    statuses = []

    def sign_up(n):
        client = app.test_client()
        barrier.wait()
        response = client.post(
            SIGNUP, json={"username": f"racer{n}", "email": "race@example.com", "password": "password1"}
        )
        statuses.append(response.status_code)

    threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(attempts)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] + [400] * (attempts - 1)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"email": "a@example.com", "password": "password1"}, "username"),
        ({"username": "alice", "password": "password1"}, "email"),
        ({"username": "alice", "email": "a@example.com"}, "password"),
        ({"username": "al", "email": "a@example.com", "password": "password1"}, "username"),
        ({"username": "a" * 51, "email": "a@example.com", "password": "password1"}, "username"),
        ({"username": "al ice", "email": "a@example.com", "password": "password1"}, "username"),
        ({"username": 123, "email": "a@example.com", "password": "password1"}, "username"),
        ({"username": "alice", "email": "not-an-email", "password": "password1"}, "email"),
        ({"username": "alice", "email": "a@example.com", "password": "short"}, "password"),
        ({"username": "al\x00ice", "email": "a@example.com", "password": "password1"}, "username"),
        ({"username": "\ufdfa" * 15, "email": "a@example.com", "password": "password1"}, "username"),  # 270 once folded
        ({"username": "alice", "email": "a@example.com", "password": "pass\x00word"}, "password"),
        ({"username": "alice", "email": "a@example.com", "password": "password1", "id": 7}, "id"),
    ],
)
def test_signup_validation_is_422_with_the_field_named(client, body, field):
    response = client.post(SIGNUP, json=body)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["detail"] == "Validation error"
    assert list(payload["errors"]) == [field]


def test_validation_errors_do_not_echo_the_input(client):
    response = client.post(SIGNUP, json={"username": "x", "email": "secret-address", "password": "s3cr"})
    assert response.status_code == 422
    text = response.get_data(as_text=True)
    assert "secret-address" not in text and "s3cr" not in text


@pytest.mark.parametrize(
    "password, accepted",
    [
        ("a" * 72, True),  # bcrypt's whole input
        ("a" * 73, False),  # one byte more would be cut silently: refused
        ("é" * 36, True),  # 72 bytes in UTF-8
        ("é" * 36 + "a", False),  # 37 characters, 73 bytes
        ("€" * 24, True),  # 72 bytes
        ("€" * 25, False),  # 75 bytes
    ],
)
def test_password_longer_than_72_bytes_is_refused(auth, password, accepted):
    response = auth.signup(password=password)
    if accepted:
        assert response.status_code == 201
        assert auth.login(password=password).status_code == 200
        assert auth.login(password=password[:-1]).status_code == 401
    else:
        assert response.status_code == 422
        assert response.get_json()["errors"] == {"password": ["Must be at most 72 bytes in UTF-8."]}


@pytest.mark.parametrize(
    "email, password",
    [
        ("alice@example.com", "wrong password"),
        ("nobody@example.com", "correct horse"),
        ("alice@example.com", "a" * 100),  # longer than bcrypt takes: still just wrong
        ("alice@example.com", ""),
    ],
)
def test_bad_credentials_are_401(auth, email, password):
    auth.signup()
    response = auth.login(email=email, password=password)
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Incorrect email or password"}


def test_login_with_a_malformed_stored_hash_is_401(app, auth):
    auth.signup()
    with app.app_context():
        db.session.scalar(select(User)).hashed_password = "not a bcrypt hash"
        db.session.commit()
    response = auth.login()
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Incorrect email or password"}


@pytest.mark.parametrize(
    "body", [{}, {"email": "alice@example.com"}, {"password": "x"}, {"email": 1, "password": "x"}, []]
)
def test_login_validation_is_422(client, body):
    response = client.post(LOGIN, json=body)
    assert response.status_code == 422
    assert response.get_json()["detail"] == "Validation error"
