"""Idempotency-Key on POST /tasks and POST /auth/signup: a retry answers once and writes once."""

import hashlib
import json
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.idempotency import request_fingerprint
from app.models import IdempotencyRecord, Task, User, utcnow
from tests.http import call

TASKS = "/api/v1/tasks"
SIGNUP = "/api/v1/auth/signup"


def count(app, model):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_retried_create_answers_the_first_result_and_creates_nothing(app, client, alice):
    headers = {**alice, "Idempotency-Key": "create-1"}
    first = client.post(TASKS, json={"title": "once"}, headers=headers)
    again = client.post(TASKS, json={"title": "once"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert count(app, Task) == 1


def test_a_replay_is_the_first_answer_byte_for_byte_with_its_etag(client, alice):
    headers = {**alice, "Idempotency-Key": "bytes"}
    first = client.post(TASKS, json={"title": "exact"}, headers=headers)
    again = client.post(TASKS, json={"title": "exact"}, headers=headers)
    assert again.get_data() == first.get_data()
    assert again.headers["ETag"] == first.headers["ETag"]


def test_an_expired_key_is_forgotten_even_before_the_purge(app, client, alice):
    headers = {**alice, "Idempotency-Key": "stale"}
    client.post(TASKS, json={"title": "long ago"}, headers=headers)
    with app.app_context():
        db.session.execute(IdempotencyRecord.__table__.update().values(expires_at=utcnow().replace(year=2000)))
        db.session.commit()
    response = client.post(TASKS, json={"title": "today"}, headers=headers)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(app, Task) == 2


def test_the_stored_fingerprint_does_not_reveal_a_signup_password(app, client):
    body = {"username": "secretive", "email": "s@example.com", "password": "sunshine1"}
    client.post(SIGNUP, json=body, headers={"Idempotency-Key": "pw"})
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    with app.app_context():
        stored = db.session.scalar(select(IdempotencyRecord.fingerprint))
    assert stored != hashlib.sha256(b"POST " + SIGNUP.encode() + b"\n" + canonical).hexdigest()
    assert len(stored) == 64


def test_a_long_client_address_is_no_500(make_app):
    client = make_app(PROXY_FIX_X_FOR="1").test_client()
    response = client.post(
        SIGNUP,
        json={"username": "far", "email": "far@example.com", "password": "long enough"},
        headers={"Idempotency-Key": "far", "X-Forwarded-For": "x" * 200},
    )
    assert response.status_code == 201


def test_the_same_json_written_differently_is_the_same_request(client, alice):
    headers = {**alice, "Idempotency-Key": "spacing", "Content-Type": "application/json"}
    first = client.post(TASKS, data='{"title": "a", "description": "b"}', headers=headers)
    again = client.post(TASKS, data='{"description":"b","title":"a"}', headers=headers)
    assert again.status_code == 201 and again.get_json()["id"] == first.get_json()["id"]


def test_the_same_key_with_another_body_is_422(app, client, alice):
    headers = {**alice, "Idempotency-Key": "k"}
    client.post(TASKS, json={"title": "first"}, headers=headers)
    response = client.post(TASKS, json={"title": "second"}, headers=headers)
    assert response.status_code == 422
    assert response.get_json() == {"detail": "Idempotency-Key was already used with another request"}
    assert count(app, Task) == 1


def test_keys_belong_to_their_user(app, client, alice, bob):
    client.post(TASKS, json={"title": "alice's"}, headers={**alice, "Idempotency-Key": "shared"})
    response = client.post(TASKS, json={"title": "bob's"}, headers={**bob, "Idempotency-Key": "shared"})
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers
    assert count(app, Task) == 2


def test_a_failed_request_releases_its_key(app, client, alice):
    headers = {**alice, "Idempotency-Key": "retry-after-fix"}
    assert client.post(TASKS, json={"title": ""}, headers=headers).status_code == 422
    response = client.post(TASKS, json={"title": "fixed"}, headers=headers)
    assert response.status_code == 201 and "Idempotent-Replayed" not in response.headers


def test_a_repeat_while_the_first_runs_is_409(app, client, alice):
    """The first request's reservation, for the same body, still running."""
    me = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    with app.test_request_context(TASKS, method="POST", json={"title": "x"}):
        fingerprint = request_fingerprint()  # what the first request recorded
    with app.app_context():
        db.session.add(
            IdempotencyRecord(
                scope=f"user:{me}",
                key="busy",
                fingerprint=fingerprint,
                locked_until=utcnow() + timedelta(minutes=1),
                expires_at=utcnow() + timedelta(days=1),
            )
        )
        db.session.commit()
    response = client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": "busy"})
    assert response.status_code == 409
    assert response.get_json() == {"detail": "A request with this Idempotency-Key is still in progress"}
    assert count(app, Task) == 0


def test_an_abandoned_reservation_is_taken_over(app, client, alice):
    """A worker that died mid-request wrote nothing (record and write commit together)."""
    me = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    with app.app_context():
        db.session.add(
            IdempotencyRecord(
                scope=f"user:{me}",
                key="orphan",
                fingerprint="x",
                locked_until=utcnow().replace(year=2000),
                expires_at=utcnow().replace(year=2100),
            )
        )
        db.session.commit()
    response = client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": "orphan"})
    assert response.status_code == 201 and count(app, Task) == 1


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "naïve"])
def test_a_malformed_key_is_422(client, alice, key):
    response = client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": key})
    assert response.status_code == 422 and list(response.get_json()["errors"]) == ["Idempotency-Key"]


def test_without_the_header_nothing_changes(app, client, alice):
    for _ in range(2):
        assert client.post(TASKS, json={"title": "twice"}, headers=alice).status_code == 201
    assert count(app, Task) == 2 and count(app, IdempotencyRecord) == 0


def test_a_retried_signup_answers_201_again(app, client):
    body = {"username": "retry", "email": "retry@example.com", "password": "long enough"}
    first = client.post(SIGNUP, json=body, headers={"Idempotency-Key": "signup-1"})
    again = client.post(SIGNUP, json=body, headers={"Idempotency-Key": "signup-1"})
    assert first.status_code == again.status_code == 201
    assert again.get_json() == {"message": "User created successfully"}
    assert again.headers["Idempotent-Replayed"] == "true"
    # Without the key the same signup is the usual 400.
    assert client.post(SIGNUP, json=body).status_code == 400
    assert count(app, User) == 1


def test_a_signup_that_fails_releases_its_key(app, client, auth):
    auth.signup()  # alice exists
    body = {"username": "alice", "email": "alice@example.com", "password": "long enough"}
    assert client.post(SIGNUP, json=body, headers={"Idempotency-Key": "dup"}).status_code == 400
    assert count(app, IdempotencyRecord) == 0


def test_purge_forgets_expired_keys(app, client, alice):
    client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": "old"})
    with app.app_context():
        db.session.execute(IdempotencyRecord.__table__.update().values(expires_at=utcnow().replace(year=2000)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["idempotency", "purge"])
    assert result.exit_code == 0 and result.output == "purged 1 expired idempotency keys\n"
    assert count(app, IdempotencyRecord) == 0


def test_concurrent_retries_create_exactly_one_task(serve, app):
    base = serve(workers=2)
    user = {"username": "phone", "email": "phone@example.com", "password": "phone password"}
    call(base, "POST", "/auth/signup", user)
    token = call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]["access_token"]
    barrier, results = threading.Barrier(12), []

    def retry():
        barrier.wait()
        results.append(
            call(
                base, "POST", "/tasks", {"title": "from a flaky network"}, token, headers={"Idempotency-Key": "flaky-1"}
            )
        )

    threads = [threading.Thread(target=retry) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(status for status, _, _ in results)
    assert set(statuses) <= {201, 409} and 201 in statuses
    assert len({body["id"] for status, body, _ in results if status == 201}) == 1
    assert count(app, Task) == 1
