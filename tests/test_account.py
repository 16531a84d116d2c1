"""PATCH /users/me, PUT /users/me/password, DELETE /users/me."""

import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import Task

ME = "/api/v1/users/me"
PASSWORD = {"current_password": "correct horse"}


def test_change_username_and_email(client, alice):
    response = client.patch(ME, json={"username": "alicia", "email": "Alicia@Example.com", **PASSWORD}, headers=alice)
    assert response.status_code == 200
    assert response.get_json() | {"id": 0} == {"id": 0, "username": "alicia", "email": "alicia@example.com"}
    assert client.get(ME, headers=alice).get_json()["username"] == "alicia"
    assert (
        client.post("/api/v1/auth/login", json={"email": "alicia@example.com", "password": "correct horse"}).status_code
        == 200
    )


def test_change_one_field_keeps_the_other(client, alice):
    response = client.patch(ME, json={"username": "alicia"}, headers=alice)
    assert response.get_json()["email"] == "alice@example.com"


@pytest.mark.parametrize("change", [{"username": "BOB"}, {"email": "bob@example.com", **PASSWORD}])
def test_taken_name_or_email_is_400(client, alice, bob, change):
    response = client.patch(ME, json=change, headers=alice)
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Username or email already exists"}
    assert client.get(ME, headers=alice).get_json()["username"] == "alice"


def test_an_empty_change_changes_nothing(client, alice):
    # Found by Hypothesis: an UPDATE with no column was a 500.
    response = client.patch(ME, json={}, headers=alice)
    assert response.status_code == 200 and response.get_json()["username"] == "alice"


def test_an_email_change_needs_the_current_password(client, auth, alice):
    """The e-mail address is the login name, and a reset link goes to it: a token alone must not move it."""
    response = client.patch(ME, json={"email": "mallory@example.com"}, headers=alice)
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"current_password": ["Required to change the e-mail address."]}
    response = client.patch(ME, json={"email": "mallory@example.com", "current_password": "a guess"}, headers=alice)
    assert response.status_code == 400 and response.get_json() == {"detail": "Current password is incorrect"}
    assert client.get(ME, headers=alice).get_json()["email"] == "alice@example.com"

    response = client.patch(ME, json={"email": "alice@example.org", **PASSWORD}, headers=alice)
    assert response.status_code == 200 and response.get_json()["email"] == "alice@example.org"
    assert auth.login("alice@example.org").status_code == 200


def test_a_username_change_needs_no_password_but_checks_one_given(client, alice):
    assert client.patch(ME, json={"username": "alicia"}, headers=alice).status_code == 200
    response = client.patch(ME, json={"username": "ally", "current_password": "a guess"}, headers=alice)
    assert response.status_code == 400
    assert client.get(ME, headers=alice).get_json()["username"] == "alicia"


def test_deleting_the_account_needs_the_current_password(client, auth, alice):
    response = client.delete(ME, headers=alice)
    assert response.status_code == 415  # no body at all
    response = client.delete(ME, json={}, headers=alice)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["current_password"]
    response = client.delete(ME, json={"current_password": "a guess"}, headers=alice)
    assert response.status_code == 400 and response.get_json() == {"detail": "Current password is incorrect"}
    assert "a guess" not in response.get_data(as_text=True)
    assert client.get(ME, headers=alice).status_code == 200
    assert client.delete(ME, json=PASSWORD, headers=alice).status_code == 204
    assert auth.login().status_code == 401


def test_keeping_ones_own_name_in_another_case_is_allowed(client, alice):
    assert client.patch(ME, json={"username": "Alice"}, headers=alice).get_json()["username"] == "Alice"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"username": "a"}, "username"),
        ({"email": "x"}, "email"),
        ({"password": "new password"}, "password"),
        ({"id": 5}, "id"),
    ],
)
def test_account_update_validation_is_422(client, alice, body, field):
    response = client.patch(ME, json=body, headers=alice)
    assert response.status_code == 422 and list(response.get_json()["errors"]) == [field]


def test_password_change_refuses_every_older_token(client, auth, alice):
    other_device = auth.login().get_json()
    response = client.put(
        f"{ME}/password", json={"current_password": "correct horse", "new_password": "battery staple"}, headers=alice
    )
    assert response.status_code == 204
    assert client.get(ME, headers=alice).status_code == 401
    assert client.get(ME, headers={"Authorization": f"Bearer {other_device['access_token']}"}).status_code == 401
    refresh = {"Authorization": f"Bearer {other_device['refresh_token']}"}
    assert client.post("/api/v1/auth/refresh", headers=refresh).status_code == 401

    assert auth.login(password="correct horse").status_code == 401
    new = auth.login(password="battery staple").get_json()
    assert client.get(ME, headers={"Authorization": f"Bearer {new['access_token']}"}).status_code == 200


def test_password_change_needs_the_current_password(client, auth, alice):
    response = client.put(
        f"{ME}/password", json={"current_password": "wrong", "new_password": "battery staple"}, headers=alice
    )
    assert response.status_code == 400
    assert response.get_json() == {"detail": "Current password is incorrect"}
    assert client.get(ME, headers=alice).status_code == 200
    assert auth.login().status_code == 200


@pytest.mark.parametrize("new_password", ["short", "a" * 73])
def test_new_password_follows_the_signup_rules(client, alice, new_password):
    response = client.put(
        f"{ME}/password", json={"current_password": "correct horse", "new_password": new_password}, headers=alice
    )
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["new_password"]


def test_creates_racing_an_account_deletion_never_fail_with_500(app, client, alice):
    creates = 12
    barrier = threading.Barrier(creates + 1)
    statuses = []

    def send(method, path, body):
        thread_client = app.test_client()
        barrier.wait()
        statuses.append((method, getattr(thread_client, method)(path, json=body, headers=alice).status_code))

    threads = [
        threading.Thread(target=send, args=("post", "/api/v1/tasks", {"title": f"t{n}"})) for n in range(creates)
    ]
    threads.append(threading.Thread(target=send, args=("delete", ME, PASSWORD)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ("delete", 204) in statuses
    assert {status for method, status in statuses if method == "post"} <= {201, 401}
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Task)) == 0  # nothing left behind


def test_delete_account_takes_its_tasks_and_tokens(client, auth, alice, bob):
    client.post("/api/v1/tasks", json={"title": "mine"}, headers=alice)
    bobs = client.post("/api/v1/tasks", json={"title": "bob's"}, headers=bob).get_json()
    assert client.delete(ME, json=PASSWORD, headers=alice).status_code == 204
    assert client.get(ME, headers=alice).status_code == 401
    assert client.get("/api/v1/tasks", headers=alice).status_code == 401
    assert auth.login().status_code == 401
    # The name and address are free again, and nothing of the old account remains.
    fresh = auth.headers()
    assert client.get("/api/v1/tasks", headers=fresh).get_json() == []
    assert client.get(f"/api/v1/tasks/{bobs['id']}", headers=bob).status_code == 200
