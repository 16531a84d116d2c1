"""Issue 18: a write budget per user (RATELIMIT_TASK_WRITES) and a cap on tasks (MAX_TASKS_PER_USER)."""

import pytest
import redis
from sqlalchemy import func, select

from app.extensions import db, limiter
from app.models import Task, User
from tests.conftest import REDIS_TEST_URL, AuthActions, redis_available, together
from tests.http import call

TASKS = "/api/v1/tasks"


def signed_up(base, name):
    user = {"username": name, "email": f"{name}@example.com", "password": f"{name} password"}
    assert call(base, "POST", "/auth/signup", user)[0] == 201
    return call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]


def test_task_writes_share_one_budget_per_user(serve):
    """Against gunicorn: creates, updates and deletes of one user count together (two workers
    share them through Redis when one answers); reads, and other users, are never held back."""
    shared = redis_available()
    if shared:
        redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    base = serve(
        workers=2 if shared else 1,
        RATELIMIT_ENABLED="true",
        RATELIMIT_TASK_WRITES="3/minute",
        RATELIMIT_STORAGE_URI=REDIS_TEST_URL if shared else "memory://",
    )
    alice, bob = signed_up(base, "alice"), signed_up(base, "bob")
    token = alice["access_token"]

    status, task, headers = call(base, "POST", "/tasks", {"title": "one"}, token=token)
    # Only a refusal tells the budget: telling it on every write would cost a read of its storage.
    assert status == 201 and not any(name.lower().startswith(("x-ratelimit", "retry-after")) for name in headers)
    assert call(base, "PATCH", f"/tasks/{task['id']}", {"title": "two"}, token=token)[0] == 200
    kept = call(base, "POST", "/tasks", {"title": "kept"}, token=token)[1]
    status, body, headers = call(base, "DELETE", f"/tasks/{task['id']}", token=token)
    assert status == 429 and body == {"detail": "Too Many Requests"} and 1 <= int(headers["Retry-After"]) <= 60
    assert headers["X-RateLimit-Limit"] == "3" and headers["X-RateLimit-Remaining"] == "0"
    assert call(base, "POST", "/tasks", {"title": "four"}, token=token)[0] == 429
    assert call(base, "PUT", f"/tasks/{kept['id']}", {"title": "four"}, token=token)[0] == 429

    # Reads pass, and run none of the limiter's hooks: no rate-limit headers on them.
    for path in ("/tasks", f"/tasks/{kept['id']}", "/tasks/changes"):
        status, _, headers = call(base, "GET", path, token=token)
        assert status == 200 and not any(name.lower().startswith("x-ratelimit") for name in headers), path
    # Another user's budget is their own; another session of alice's is alice's.
    assert call(base, "POST", "/tasks", {"title": "bob's"}, token=bob["access_token"])[0] == 201
    again = call(base, "POST", "/auth/login", {"email": "alice@example.com", "password": "alice password"})[1]
    assert call(base, "POST", "/tasks", {"title": "five"}, token=again["access_token"])[0] == 429
    # A token that is no longer good gets its 401 first, never the 429.
    assert call(base, "POST", "/auth/logout", token=token)[0] == 204
    assert call(base, "POST", "/tasks", {"title": "six"}, token=token)[0] == 401


def test_no_request_runs_a_limiter_hook_bound_to_the_app_or_a_blueprint(make_app):
    """Limited routes run the limiter's headers hook for their own requests (after_this_request):
    no app-wide or blueprint hook is the limiter's, so a task read never pays for it."""
    app = make_app(RATELIMIT_ENABLED="true")
    registries = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    hooks = [hook for registry in registries for hooks in registry.values() for hook in hooks]
    assert hooks and app.extensions["rate_limit_headers"] is not None
    for hook in hooks:
        assert getattr(hook, "__self__", None) is not limiter, hook
        assert limiter not in getattr(hook, "args", ()), hook
    client = app.test_client()
    # The control: a limited route's own request runs the hook (login's limits say so on every answer).
    assert (
        "X-RateLimit-Limit"
        in client.post("/api/v1/auth/login", json={"email": "a@example.com", "password": "x"}).headers
    )


# --- MAX_TASKS_PER_USER ------------------------------------------------------


def task_counts(app):
    """Each user's counter, and how many tasks they have: equal, or the counter drifted."""
    with app.app_context():
        counted = dict(db.session.execute(select(User.username, User.task_count)).all())
        actual = dict(
            db.session.execute(select(User.username, func.count(Task.id)).outerjoin(Task).group_by(User.username)).all()
        )
    return counted, actual


@pytest.fixture
def capped(make_app):
    app = make_app(MAX_TASKS_PER_USER="3")
    client = app.test_client()
    auth = AuthActions(client)
    return app, client, auth.headers(), auth.headers("bob", "bob@example.com", "bobs password")


def test_a_create_past_the_cap_is_409_and_a_delete_makes_room(capped):
    app, client, alice, bob = capped
    ids = [client.post(TASKS, json={"title": f"t{n}"}, headers=alice).get_json()["id"] for n in range(3)]
    response = client.post(TASKS, json={"title": "one too many"}, headers=alice)
    assert response.status_code == 409 and response.get_json() == {"detail": "Task limit reached"}
    assert client.get(f"{TASKS}?count=true", headers=alice).headers["X-Total-Count"] == "3"  # nothing was kept
    assert client.post(TASKS, json={"title": "bob's"}, headers=bob).status_code == 201  # bob's cap is his own
    # Updates are not creates.
    assert client.patch(f"{TASKS}/{ids[0]}", json={"title": "renamed"}, headers=alice).status_code == 200
    assert client.delete(f"{TASKS}/{ids[0]}", headers=alice).status_code == 204
    # A refused create with an Idempotency-Key released it: the retry, once there is room, creates.
    keyed = {**alice, "Idempotency-Key": "after-the-cap"}
    assert client.post(TASKS, json={"title": "new"}, headers=keyed).status_code == 201
    assert client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": "k2"}).status_code == 409
    assert client.delete(f"{TASKS}/{ids[1]}", headers=alice).status_code == 204
    assert client.post(TASKS, json={"title": "x"}, headers={**alice, "Idempotency-Key": "k2"}).status_code == 201
    assert task_counts(app)[0] == {"alice": 3, "bob": 1}


def test_the_task_count_follows_every_write_and_cannot_drift(capped):
    """Every way a task is added or removed, or not: the counter equals the tasks, and no
    statement can add or remove a task except through the one place that counts it."""
    app, client, alice, bob = capped
    first = client.post(TASKS, json={"title": "a"}, headers=alice)
    task = first.get_json()
    client.post(TASKS, json={"title": "b"}, headers={**alice, "Idempotency-Key": "once"})
    client.post(TASKS, json={"title": "b"}, headers={**alice, "Idempotency-Key": "once"})  # replayed
    client.post(TASKS, json={"title": ""}, headers=alice)  # 422
    client.post(TASKS, json={"title": "c"}, headers=alice)
    client.post(TASKS, json={"title": "d"}, headers=alice)  # 409: the cap
    client.delete(f"{TASKS}/{task['id']}", headers={**alice, "If-Match": '"stale"'})  # 412
    client.delete(f"{TASKS}/999999", headers=alice)  # 404
    client.delete(f"{TASKS}/{task['id']}", headers=bob)  # bob's 404 on alice's task
    client.delete(f"{TASKS}/{task['id']}", headers=alice)  # 204
    client.delete(f"{TASKS}/{task['id']}", headers=alice)  # 404 again
    client.put(f"{TASKS}/{task['id'] + 1}", json={"completed": True}, headers=alice)
    counted, actual = task_counts(app)
    assert counted == actual == {"alice": 2, "bob": 0}


def test_racing_creates_at_the_cap_give_one_201(capped):
    """The count and the cap are decided under the user's row lock: of creates racing for the
    last place, one gets it."""
    app, client, alice, _bob = capped
    for n in range(2):
        assert client.post(TASKS, json={"title": f"t{n}"}, headers=alice).status_code == 201
    racers = 6
    statuses = together(
        racers, lambda _n: app.test_client().post(TASKS, json={"title": "last place"}, headers=alice).status_code
    )
    assert sorted(statuses) == [201] + [409] * (racers - 1)
    assert task_counts(app)[0]["alice"] == 3
