"""/api/v1/tasks: create, list, read, update and delete one's own tasks."""

import threading
from datetime import datetime

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import AuthActions

TASKS = "/api/v1/tasks"
TASK_FIELDS = {
    "id",
    "title",
    "description",
    "due_date",
    "completed",
    "completed_at",
    "created_at",
    "updated_at",
    "owner_id",
    "list_id",
}


def create(client, headers, **body):
    response = client.post(TASKS, json={"title": "Buy milk", **body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def parse(timestamp):
    parsed = datetime.fromisoformat(timestamp)
    assert parsed.utcoffset() is not None, f"{timestamp} has no offset"
    return parsed


def test_create_returns_the_task(client, alice):
    response = client.post(TASKS, json={"title": "Buy milk"}, headers=alice)
    assert response.status_code == 201
    task = response.get_json()
    assert set(task) == TASK_FIELDS
    me = client.get("/api/v1/users/me", headers=alice).get_json()
    assert task["owner_id"] == me["id"]
    assert (task["title"], task["description"], task["due_date"], task["completed"]) == ("Buy milk", None, None, False)
    assert parse(task["created_at"]) == parse(task["updated_at"])


def test_create_with_every_field(client, alice):
    task = create(client, alice, description="Semi-skimmed", due_date="2027-01-02T03:04:05Z", completed=True)
    assert task["description"] == "Semi-skimmed"
    assert task["due_date"] == "2027-01-02T03:04:05+00:00"
    assert task["completed"] is True


@pytest.mark.parametrize(
    "sent, stored",
    [
        ("2027-01-02T03:04:05", "2027-01-02T03:04:05+00:00"),  # naive means UTC
        ("2027-01-02T03:04:05+02:00", "2027-01-02T01:04:05+00:00"),  # the offset is honoured
        ("2027-01-02T03:04:05.123456-05:30", "2027-01-02T08:34:05.123456+00:00"),
        ("2027-01-02T03:04:05Z", "2027-01-02T03:04:05+00:00"),
    ],
)
def test_due_date_is_stored_in_utc(client, alice, sent, stored):
    task = create(client, alice, due_date=sent)
    assert task["due_date"] == stored
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).get_json()["due_date"] == stored


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "title"),
        ({"title": None}, "title"),
        ({"title": ""}, "title"),
        ({"title": "   \t"}, "title"),
        ({"title": "\u3000\u2003 "}, "title"),  # only (wide) spaces
        ({"title": "x" * 256}, "title"),
        ({"title": 5}, "title"),
        ({"title": "nul\x00byte"}, "title"),
        ({"title": "ok", "description": "x" * 10_001}, "description"),
        ({"title": "ok", "description": "nul\x00"}, "description"),
        ({"title": "ok", "due_date": "tomorrow"}, "due_date"),
        ({"title": "ok", "due_date": "2027-13-01T00:00:00"}, "due_date"),
        ({"title": "ok", "due_date": 1767225600}, "due_date"),
        ({"title": "ok", "due_date": "0001-01-01T00:00:00+01:00"}, "due_date"),  # before year 1 in UTC
        ({"title": "ok", "due_date": "9999-12-31T23:59:59-01:00"}, "due_date"),  # after 9999 in UTC
        ({"title": "ok", "due_date": "9999-12-31T00:00:00Z"}, "due_date"),  # year 10000 east of UTC
        ({"title": "ok", "due_date": "0001-01-01T12:00:00Z"}, "due_date"),  # year 0 west of UTC
        ({"title": "ok", "completed": "true"}, "completed"),
        ({"title": "ok", "completed": 1}, "completed"),
        ({"title": "ok", "completed": None}, "completed"),
        ({"title": "ok", "id": 1}, "id"),
        ({"title": "ok", "owner_id": 1}, "owner_id"),
        ({"title": "ok", "created_at": "2027-01-01T00:00:00Z"}, "created_at"),
        ({"title": "ok", "completed_at": "2027-01-01T00:00:00Z"}, "completed_at"),
        ({"title": "ok", "updated_at": "2027-01-01T00:00:00Z"}, "updated_at"),
    ],
)
def test_create_validation_is_422(client, alice, body, field):
    response = client.post(TASKS, json=body, headers=alice)
    assert response.status_code == 422
    payload = response.get_json()
    assert payload["detail"] == "Validation error"
    assert list(payload["errors"]) == [field]


def test_lone_surrogate_is_422_not_500(client, alice):
    # Valid JSON, but not encodable as UTF-8: PostgreSQL would refuse it.
    response = client.post(TASKS, data='{"title": "\\ud800"}', headers=alice, content_type="application/json")
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == ["title"]


def test_limits_are_inclusive(client, alice):
    task = create(client, alice, title="x" * 255, description="y" * 10_000)
    assert len(task["title"]) == 255 and len(task["description"]) == 10_000


def test_body_that_is_not_an_object_is_422(client, alice):
    response = client.post(TASKS, json=["title"], headers=alice)
    assert response.status_code == 422
    assert response.get_json()["detail"] == "Validation error"


def test_list_returns_only_own_tasks_in_id_order(client, alice, bob):
    first = create(client, alice, title="one")
    create(client, bob, title="not yours")
    second = create(client, alice, title="two")
    response = client.get(TASKS, headers=alice)
    assert response.status_code == 200
    assert response.get_json() == [first, second]


def test_list_is_empty_for_a_new_user(client, alice):
    assert client.get(TASKS, headers=alice).get_json() == []


def test_get_returns_own_task(client, alice):
    task = create(client, alice)
    response = client.get(f"{TASKS}/{task['id']}", headers=alice)
    assert response.status_code == 200
    assert response.get_json() == task


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_someone_elses_task_is_not_found(client, alice, bob, method):
    task = create(client, alice)
    response = getattr(client, method)(f"{TASKS}/{task['id']}", json={"title": "mine"}, headers=bob)
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Task not found"}
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).get_json() == task  # untouched


@pytest.mark.parametrize("method", ["get", "put", "delete"])
@pytest.mark.parametrize("task_id", ["0", "-1", "987654", str(2**31), "9" * 30])
def test_missing_task_is_404(client, alice, method, task_id):
    response = getattr(client, method)(f"{TASKS}/{task_id}", json={"title": "x"}, headers=alice)
    assert response.status_code == 404
    assert response.get_json() == {"detail": "Task not found"}


def test_put_changes_only_the_fields_sent(client, alice):
    task = create(client, alice, description="keep me", due_date="2027-01-01T00:00:00Z")
    response = client.put(f"{TASKS}/{task['id']}", json={"title": "Buy oat milk"}, headers=alice)
    assert response.status_code == 200
    updated = response.get_json()
    assert updated["title"] == "Buy oat milk"
    unchanged = {k: v for k, v in updated.items() if k not in ("title", "updated_at")}
    assert unchanged == {k: v for k, v in task.items() if k not in ("title", "updated_at")}
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).get_json() == updated


def test_put_moves_updated_at_but_not_created_at(client, alice):
    task = create(client, alice)
    updated = client.put(f"{TASKS}/{task['id']}", json={"completed": True}, headers=alice).get_json()
    assert updated["completed"] is True
    assert updated["created_at"] == task["created_at"]
    assert parse(updated["updated_at"]) > parse(task["updated_at"])
    again = client.put(f"{TASKS}/{task['id']}", json={}, headers=alice).get_json()
    assert parse(again["updated_at"]) > parse(updated["updated_at"])


def test_put_can_reopen_and_clear_optional_fields(client, alice):
    task = create(client, alice, description="d", due_date="2027-01-01T00:00:00Z", completed=True)
    updated = client.put(
        f"{TASKS}/{task['id']}", json={"description": None, "due_date": None, "completed": False}, headers=alice
    ).get_json()
    assert (updated["description"], updated["due_date"], updated["completed"]) == (None, None, False)


@pytest.mark.parametrize(
    "body, field",
    [
        ({"title": None}, "title"),
        ({"title": " "}, "title"),
        ({"completed": "yes"}, "completed"),
        ({"due_date": "soon"}, "due_date"),
        ({"owner_id": 2}, "owner_id"),
        ({"id": 2}, "id"),
    ],
)
def test_put_validation_is_422_and_changes_nothing(client, alice, body, field):
    task = create(client, alice)
    response = client.put(f"{TASKS}/{task['id']}", json=body, headers=alice)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).get_json() == task


def test_deleted_ids_are_never_reused(client, alice):
    # A client retrying a DELETE must not remove a newer task.
    first = create(client, alice)
    assert client.delete(f"{TASKS}/{first['id']}", headers=alice).status_code == 204
    assert create(client, alice)["id"] > first["id"]


def test_delete_removes_the_task(client, alice):
    task = create(client, alice)
    response = client.delete(f"{TASKS}/{task['id']}", headers=alice)
    assert response.status_code == 204
    assert response.get_data() == b""
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).status_code == 404
    assert client.delete(f"{TASKS}/{task['id']}", headers=alice).status_code == 404
    assert client.get(TASKS, headers=alice).get_json() == []


@pytest.mark.parametrize(
    "method, path",
    [("post", TASKS), ("get", TASKS), ("get", f"{TASKS}/1"), ("put", f"{TASKS}/1"), ("delete", f"{TASKS}/1")],
)
def test_every_task_endpoint_needs_a_token(client, method, path):
    response = getattr(client, method)(path, json={"title": "x"})
    assert response.status_code == 401
    assert response.get_json() == {"detail": "Not authenticated"}


def test_concurrent_deletes_and_updates_of_one_task(app, client, alice):
    """One 204, every other request a 404 or a 200: never a 500, never two deletes."""
    task = create(client, alice)
    requests = [("delete", None)] * 4 + [("put", {"title": f"edit {n}"}) for n in range(6)]
    barrier = threading.Barrier(len(requests))
    statuses = []

    def send(method, body):
        thread_client = app.test_client()
        barrier.wait()
        response = getattr(thread_client, method)(f"{TASKS}/{task['id']}", json=body, headers=alice)
        statuses.append((method, response.status_code))

    threads = [threading.Thread(target=send, args=request) for request in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    deletes = sorted(code for method, code in statuses if method == "delete")
    assert deletes == [204, 404, 404, 404]
    assert {code for method, code in statuses if method == "put"} <= {200, 404}
    assert client.get(f"{TASKS}/{task['id']}", headers=alice).status_code == 404


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12"])  # UTC+14 and UTC-12
def test_extreme_due_dates_read_back_in_any_session_time_zone(make_app, database_url, zone):
    """A database whose sessions are not in UTC (a managed server's default) still reads every due date."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        pytest.skip("a PostgreSQL session setting")
    zoned = url.update_query_dict({"options": f"-c timezone={zone}"})
    zoned_client = make_app(DATABASE_URL=zoned.render_as_string(hide_password=False)).test_client()
    headers = AuthActions(zoned_client).headers()
    for due in ("0001-01-02T00:00:00+00:00", "9999-12-30T23:59:59.999999+00:00"):
        task = create(zoned_client, headers, due_date=due)
        response = zoned_client.get(f"{TASKS}/{task['id']}", headers=headers)
        assert response.status_code == 200 and response.get_json()["due_date"] == due
    assert zoned_client.get(TASKS, headers=headers).status_code == 200
