"""GET /api/v1/tasks/changes: delta sync for clients that were offline."""

import threading
import time

import psycopg2
import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url

from app.extensions import db
from app.models import TaskTombstone, utcnow
from tests.conftest import AuthActions
from tests.http import call

CHANGES = "/api/v1/tasks/changes"
TASKS = "/api/v1/tasks"


def sync(client, headers, since=None, limit=None):
    query = {k: v for k, v in {"since": since, "limit": limit}.items() if v is not None}
    response = client.get(CHANGES, query_string=query, headers=headers)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def follow(client, headers, since=None, limit=None):
    """Pages until has_more is false: (tasks by id, deleted ids, last cursor)."""
    tasks, deleted = {}, set()
    while True:
        page = sync(client, headers, since, limit)
        for task in page["changes"]:
            tasks[task["id"]] = task
            deleted.discard(task["id"])
        for task_id in page["deleted"]:
            tasks.pop(task_id, None)
            deleted.add(task_id)
        since = page["next_cursor"]
        if not page["has_more"]:
            return tasks, deleted, since


def shared_list(client, owner, member, role):
    """A new list of ``owner``'s, shared with the user named ``member`` as ``role``: its id."""
    list_id = client.post("/api/v1/lists", json={"name": "ours"}, headers=owner).get_json()["id"]
    response = client.post(f"/api/v1/lists/{list_id}/members", json={"username": member, "role": role}, headers=owner)
    assert response.status_code == 201
    return list_id


def create(client, headers, title):
    return client.post(TASKS, json={"title": title}, headers=headers).get_json()


def test_full_sync_then_only_what_changed(client, alice):
    one, two, three = (create(client, alice, t) for t in ("one", "two", "three"))
    first = sync(client, alice)
    assert [t["id"] for t in first["changes"]] == [one["id"], two["id"], three["id"]]
    assert first["deleted"] == [] and first["has_more"] is False

    client.patch(f"{TASKS}/{two['id']}", json={"completed": True}, headers=alice)
    client.delete(f"{TASKS}/{one['id']}", headers=alice)
    four = create(client, alice, "four")
    second = sync(client, alice, first["next_cursor"])
    assert [t["id"] for t in second["changes"]] == [two["id"], four["id"]]  # oldest change first
    assert second["changes"][0]["completed"] is True
    assert second["deleted"] == [one["id"]]

    third = sync(client, alice, second["next_cursor"])
    assert third == {**third, "changes": [], "deleted": [], "has_more": False}
    assert third["next_cursor"] == second["next_cursor"]  # nothing new: the same place


def test_pages_follow_the_cursor(client, alice):
    made = [create(client, alice, f"t{n}")["id"] for n in range(7)]
    client.delete(f"{TASKS}/{made[0]}", headers=alice)
    page = sync(client, alice, limit=3)
    assert len(page["changes"]) == 3 and page["has_more"] is True
    tasks, deleted, _ = follow(client, alice, limit=3)
    assert sorted(tasks) == made[1:]


def test_a_deletion_during_a_paged_full_sync_is_reported(client, alice):
    # Found in review: full-sync pages skipped tombstones, so a task delivered on
    # page one and deleted before page two stayed on the device for good.
    a = create(client, alice, "a")["id"]
    b = create(client, alice, "b")["id"]
    first = sync(client, alice, limit=1)
    assert [t["id"] for t in first["changes"]] == [a] and first["has_more"]
    client.delete(f"{TASKS}/{a}", headers=alice)
    client.patch(f"{TASKS}/{b}", json={"completed": True}, headers=alice)
    tasks, deleted, _ = follow(client, alice, first["next_cursor"], limit=1)
    assert a in deleted and list(tasks) == [b]


def test_a_mixed_page_is_cut_in_change_order(client, alice):
    base = sync(client, alice)["next_cursor"]
    a, b, c = (create(client, alice, t)["id"] for t in "abc")
    client.delete(f"{TASKS}/{a}", headers=alice)
    client.delete(f"{TASKS}/{b}", headers=alice)
    d = create(client, alice, "d")["id"]
    # In change order: c (created), a and b (deleted; their creation is superseded), then d.
    page = sync(client, alice, base, limit=3)
    assert ([t["id"] for t in page["changes"]], page["deleted"], page["has_more"]) == ([c], [a, b], True)
    rest = sync(client, alice, page["next_cursor"], limit=3)
    assert ([t["id"] for t in rest["changes"]], rest["deleted"], rest["has_more"]) == ([d], [], False)


def test_another_users_changes_never_show(client, alice, bob):
    create(client, bob, "bob's")
    assert sync(client, alice)["changes"] == []


@pytest.mark.parametrize("cursor", ["garbage", "a.b.c", "WzEsIDVd.forged"])
def test_a_forged_cursor_is_422(client, alice, cursor):
    response = client.get(CHANGES, query_string={"since": cursor}, headers=alice)
    assert response.status_code == 422


@pytest.mark.parametrize("payload", [[-1, False, {}], [1, "no", {}], [1, False, {"x": [1, False]}], [1, False, []]])
def test_a_cursor_of_ours_of_another_shape_is_422(app, client, alice, payload):
    """Signed with our key (an older release's, say) but not a position: 422, never a 500."""
    from app.tasks.cursors import sign

    alice_id = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    with app.test_request_context():
        cursor = sign("sync", [alice_id, *payload])
    response = client.get(CHANGES, query_string={"since": cursor}, headers=alice)
    assert response.status_code == 422 and response.get_json() == {"detail": "Invalid sync cursor"}


def test_another_users_cursor_is_422(client, alice, bob):
    bobs = sync(client, bob)["next_cursor"]
    response = client.get(CHANGES, query_string={"since": bobs}, headers=alice)
    assert response.status_code == 422 and response.get_json() == {"detail": "Invalid sync cursor"}


def test_a_cursor_older_than_the_tombstones_kept_is_410(app, client, alice):
    old_cursor = sync(client, alice)["next_cursor"]
    task = create(client, alice, "soon gone")
    client.delete(f"{TASKS}/{task['id']}", headers=alice)
    with app.app_context():  # deleted 31 days ago: past SYNC_TOMBSTONE_DAYS
        db.session.execute(update(TaskTombstone).values(deleted_at=utcnow().replace(year=2000)))
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["tombstones", "purge"])
    assert result.output == "purged 1 tombstones\n"
    response = client.get(CHANGES, query_string={"since": old_cursor}, headers=alice)
    assert response.status_code == 410
    assert response.get_json() == {
        "detail": "Sync cursor too old: deleted tasks were forgotten since; sync again without since"
    }
    # A full sync works, and its cursor is good again, also while paging.
    create(client, alice, "kept")
    fresh = sync(client, alice)
    assert [t["title"] for t in fresh["changes"]] == ["kept"]
    assert sync(client, alice, fresh["next_cursor"])["changes"] == []
    tasks, _, _ = follow(client, alice, limit=1)
    assert [t["title"] for t in tasks.values()] == ["kept"]


@pytest.mark.parametrize("query", ["limit=0", "limit=1001", "since=", "since=has%20space", "unknown=1"])
def test_bad_sync_queries_are_422(client, alice, query):
    assert client.get(f"{CHANGES}?{query}", headers=alice).status_code == 422


def test_a_change_committed_late_is_not_skipped(app, database_url, client, alice):
    """A writer whose transaction commits after a later one's must still be seen.

    A slow writer takes the user's next change number and holds its
    transaction open; a second write through the API must wait for it, so the
    number order is the commit order and the syncing client misses nothing.
    """
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a second connection holding a row lock: PostgreSQL")
    cursor = sync(client, alice)["next_cursor"]
    user_id = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    slow = psycopg2.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False))
    with slow.cursor() as cur:  # the slow writer: number taken, task not yet committed
        cur.execute("UPDATE users SET change_seq = change_seq + 1 WHERE id = %s RETURNING change_seq", (user_id,))
        slow_seq = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO tasks (title, completed, created_at, updated_at, owner_id, change_seq) "
            "VALUES ('slow', false, now(), now(), %s, %s)",
            (user_id, slow_seq),
        )
    fast = {}
    writer = threading.Thread(target=lambda: fast.update(create(app.test_client(), alice, "fast")))
    writer.start()
    time.sleep(0.5)
    assert writer.is_alive()  # the API write waits for the slow one's number to be settled
    assert sync(client, alice, cursor)["changes"] == []  # nothing committed yet
    slow.commit()
    slow.close()
    writer.join(timeout=10)
    tasks, _, _ = follow(client, alice, cursor)
    assert sorted(t["title"] for t in tasks.values()) == ["fast", "slow"]


def test_a_change_to_a_shared_list_committed_late_is_not_skipped(app, database_url, client, alice, bob):
    """The same for a list: one member's slow write holds the list's next number; another member's write
    waits for it, and a third member syncing misses neither."""
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a second connection holding a row lock: PostgreSQL")
    list_id = shared_list(client, alice, "bob", "editor")
    cursor = sync(client, bob)["next_cursor"]
    alice_id = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    slow = psycopg2.connect(make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False))
    with slow.cursor() as cur:  # alice's slow write: the list's number taken, task not yet committed
        cur.execute("UPDATE lists SET change_seq = change_seq + 1 WHERE id = %s RETURNING change_seq", (list_id,))
        slow_seq = cur.fetchone()[0]
        cur.execute(
            "INSERT INTO tasks (title, completed, created_at, updated_at, owner_id, list_id, change_seq, entered_seq)"
            " VALUES ('slow', false, now(), now(), %s, %s, %s, %s)",
            (alice_id, list_id, slow_seq, slow_seq),
        )
    writer = threading.Thread(
        target=lambda: app.test_client().post(TASKS, json={"title": "fast", "list_id": list_id}, headers=bob)
    )
    writer.start()
    time.sleep(0.5)
    assert writer.is_alive()  # bob's write waits for the list's number to be settled
    assert sync(client, bob, cursor)["changes"] == []
    slow.commit()
    slow.close()
    writer.join(timeout=10)
    tasks, _, _ = follow(client, bob, cursor)
    assert sorted(t["title"] for t in tasks.values()) == ["fast", "slow"]


def test_a_cursor_of_the_release_before_lists_still_syncs(app, client, alice, bob):
    """Its three values are the user's own position: their lists then come whole, their own tasks from there."""
    from app.tasks.cursors import sign

    create(client, alice, "before")
    alice_id = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    list_id = shared_list(client, bob, "alice", "viewer")
    shared = client.post(TASKS, json={"title": "shared", "list_id": list_id}, headers=bob).get_json()
    after = create(client, alice, "after")
    with app.test_request_context():
        old = sign("sync", [alice_id, 1, False])  # synced up to her first change: "before"
    tasks, deleted, _ = follow(client, alice, old)
    assert sorted(tasks) == sorted([shared["id"], after["id"]]) and deleted == set()


def test_traces_of_lists_are_purged_and_an_older_cursor_is_410(app, client, alice, bob):
    """Departures, ended memberships and deleted lists are forgotten after SYNC_TOMBSTONE_DAYS like tombstones."""
    from app.models import ListDeparture, ListMember, TaskList

    list_id = shared_list(client, alice, "bob", "editor")
    task = client.post(TASKS, json={"title": "gone", "list_id": list_id}, headers=bob).get_json()
    bobs = follow(client, bob)[2]
    client.delete(f"{TASKS}/{task['id']}", headers=bob)
    with app.app_context():
        db.session.execute(update(ListDeparture).values(departed_at=utcnow().replace(year=2000)))
        db.session.commit()
    assert app.test_cli_runner().invoke(args=["tombstones", "purge"]).output == "purged 1 tombstones\n"
    assert client.get(CHANGES, query_string={"since": bobs}, headers=bob).status_code == 410
    bobs = follow(client, bob)[2]  # from scratch, then up to date again
    assert client.delete(f"/api/v1/lists/{list_id}", headers=alice).status_code == 204
    with app.app_context():
        old = utcnow().replace(year=2000)
        db.session.execute(update(ListDeparture).values(departed_at=old))
        db.session.execute(update(ListMember).values(left_at=old))
        db.session.execute(update(TaskList).values(deleted_at=old))
        db.session.commit()
    app.test_cli_runner().invoke(args=["tombstones", "purge"])
    with app.app_context():
        assert db.session.query(TaskList).count() == 0 and db.session.query(ListMember).count() == 0
    assert client.get(CHANGES, query_string={"since": bobs}, headers=bob).status_code == 410
    assert follow(client, bob)[0] == {}


def test_writers_and_a_syncing_client_agree_in_the_end(serve, app):
    """Following the cursor from empty, while others write, reproduces the server's tasks exactly."""
    base = serve(workers=2)
    user = {"username": "syncer", "email": "syncer@example.com", "password": "sync password"}
    call(base, "POST", "/auth/signup", user)
    token = call(base, "POST", "/auth/login", {"email": user["email"], "password": user["password"]})[1]["access_token"]
    stop = threading.Event()

    def writer(n):
        mine = []
        while not stop.is_set():
            status, body, _ = call(base, "POST", "/tasks", {"title": f"w{n}"}, token)
            if status == 201:
                mine.append(body["id"])
            if len(mine) > 2:
                call(base, "DELETE", f"/tasks/{mine.pop(0)}", token=token)
                call(base, "PATCH", f"/tasks/{mine[-1]}", {"completed": True}, token)

    writers = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in writers:
        thread.start()
    local, cursor = {}, None
    deadline = time.monotonic() + 4
    while time.monotonic() < deadline:  # the device syncs while the others write
        status, page, _ = call(
            base, "GET", "/tasks/changes" + (f"?since={cursor}&limit=7" if cursor else "?limit=7"), token=token
        )
        assert status == 200
        for task in page["changes"]:
            local[task["id"]] = task
        for task_id in page["deleted"]:
            local.pop(task_id, None)
        cursor = page["next_cursor"]
    stop.set()
    for thread in writers:
        thread.join()
    while True:  # catch up once the writers are done
        page = call(base, "GET", f"/tasks/changes?since={cursor}&limit=50", token=token)[1]
        for task in page["changes"]:
            local[task["id"]] = task
        for task_id in page["deleted"]:
            local.pop(task_id, None)
        cursor = page["next_cursor"]
        if not page["has_more"]:
            break
    server = {task["id"]: task for task in call(base, "GET", "/tasks?limit=1000", token=token)[1]}
    assert len(server) > 5
    assert local == server  # nothing missed, nothing deleted brought back, every field current


def test_a_user_in_the_most_lists_allowed_syncs_with_a_cursor_that_fits(make_app):
    """MAX_LISTS_PER_USER at its highest (200): a position per list in the cursor, and it still fits `since`."""
    app = make_app(MAX_LISTS_PER_USER="200")
    client = app.test_client()
    alice = AuthActions(client).headers()
    made = [client.post("/api/v1/lists", json={"name": f"l{n}"}, headers=alice) for n in range(201)]
    assert [response.status_code for response in made] == [201] * 200 + [409]
    assert made[-1].get_json() == {"detail": "List limit reached"}
    for response in made[:200:40]:
        client.post(TASKS, json={"title": "t", "list_id": response.get_json()["id"]}, headers=alice)
    tasks, _, cursor = follow(client, alice, limit=3)
    assert len(tasks) == 5 and len(cursor) < 8000
    create(client, alice, "later")
    assert [task["title"] for task in sync(client, alice, cursor)["changes"]] == ["later"]
