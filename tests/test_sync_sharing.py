"""The sync across people, as a model check: random sharing, moving and editing by three people, each
with two devices that sync a few changes at a time; whenever a device has caught up, it holds exactly
what its person sees on the server, every field current."""

import random
from collections import Counter

import pytest

from tests.conftest import AuthActions

TASKS, LISTS, CHANGES = "/api/v1/tasks", "/api/v1/lists", "/api/v1/tasks/changes"
PEOPLE = ("alice", "bob", "carol")


class Device:
    def __init__(self, client, headers):
        self.client, self.headers, self.tasks, self.cursor = client, headers, {}, None

    def sync_page(self, limit):
        query = {"limit": limit, **({"since": self.cursor} if self.cursor else {})}
        response = self.client.get(CHANGES, query_string=query, headers=self.headers)
        assert response.status_code == 200, response.get_json()
        page = response.get_json()
        changed = {task["id"] for task in page["changes"]}
        assert not changed & set(page["deleted"]), page  # never both in one page
        self.tasks.update((task["id"], task) for task in page["changes"])
        for task_id in page["deleted"]:
            self.tasks.pop(task_id, None)
        self.cursor = page["next_cursor"]
        return page["has_more"]

    def catch_up(self, limit):
        while self.sync_page(limit):
            pass


def server_view(client, headers):
    response = client.get(TASKS, query_string={"limit": 1000}, headers=headers)
    return {task["id"]: task for task in response.get_json()}


@pytest.mark.parametrize("seed", range(8))
def test_every_device_that_caught_up_holds_what_its_person_sees(client, seed):
    rng = random.Random(seed)
    auth = AuthActions(client)
    people = {name: auth.headers(name, f"{name}@example.com", "long enough") for name in PEOPLE}
    devices = [(name, Device(client, people[name])) for name in PEOPLE for _ in range(2)]
    ids = {name: client.get("/api/v1/users/me", headers=people[name]).get_json()["id"] for name in PEOPLE}
    members = {}  # list id -> {name: role}, for the lists alive: mostly aimed right, sometimes not

    def some_task(name):
        seen = list(server_view(client, people[name]))
        return rng.choice(seen) if seen else 1

    def some_list(name):
        """Mostly a list ``name`` is in; now and then any list, or one deleted."""
        theirs = [list_id for list_id, roles in members.items() if name in roles]
        return rng.choice(theirs if theirs and rng.random() < 0.85 else [*members, 1])

    def act(name):
        """One random request of ``name``'s: (what it was, whether it succeeded). Some are refused (a viewer
        writing, a list not theirs): those must change nothing."""
        headers, roll, target = people[name], rng.random(), some_list(name)
        if roll < 0.25:
            body = {"title": f"t{rng.randrange(1000)}", **({"list_id": target} if rng.random() < 0.6 else {})}
            kind = "create in a list" if "list_id" in body else "create"
            response = client.post(TASKS, json=body, headers=headers)
        elif roll < 0.45:
            body = {"title": f"e{rng.randrange(1000)}"}
            kind, response = "edit", client.patch(f"{TASKS}/{some_task(name)}", json=body, headers=headers)
        elif roll < 0.58:
            body = {"list_id": rng.choice([None, target])}
            kind, response = "move", client.patch(f"{TASKS}/{some_task(name)}", json=body, headers=headers)
        elif roll < 0.66:
            kind, response = "delete", client.delete(f"{TASKS}/{some_task(name)}", headers=headers)
        elif roll < 0.72:
            kind, response = "new list", client.post(LISTS, json={"name": "l"}, headers=headers)
            members[response.get_json()["id"]] = {name: "owner"}
        elif roll < 0.84:
            other, role = rng.choice(PEOPLE), rng.choice(["editor", "viewer"])
            kind = "add member"
            response = client.post(f"{LISTS}/{target}/members", json={"username": other, "role": role}, headers=headers)
            if response.status_code == 201:
                members[target][other] = role
        elif roll < 0.98:
            other = rng.choice(list(members.get(target, {name: None})))
            kind = "remove member"
            response = client.delete(f"{LISTS}/{target}/members/{ids[other]}", headers=headers)
            if response.status_code == 204:
                del members[target][other]
        else:
            kind, response = "delete list", client.delete(f"{LISTS}/{target}", headers=headers)
            if response.status_code == 204:
                del members[target]
        assert response.status_code < 500, (kind, response.get_json())
        return kind, response.status_code < 300

    for name in PEOPLE:  # to start with, everyone shares a list with the others
        list_id = client.post(LISTS, json={"name": name}, headers=people[name]).get_json()["id"]
        members[list_id] = {name: "owner"}
        for other in set(PEOPLE) - {name}:
            role = rng.choice(["editor", "viewer"])
            member = {"username": other, "role": role}
            assert client.post(f"{LISTS}/{list_id}/members", json=member, headers=people[name]).status_code == 201
            members[list_id][other] = role
    done = Counter()
    for _ in range(160):
        kind, succeeded = act(rng.choice(PEOPLE))
        done[kind] += succeeded
        name, device = rng.choice(devices)
        if rng.random() < 0.5:
            device.sync_page(limit=rng.choice([1, 2, 3]))
        if rng.random() < 0.15:
            device.catch_up(limit=rng.choice([1, 3, 50]))
            assert device.tasks == server_view(client, people[name])
    for name, device in devices:
        device.catch_up(limit=2)
        assert device.tasks == server_view(client, people[name]), name
    # The run did share: tasks made in lists, moved and edited across people, members added and removed.
    assert min(done["create in a list"], done["move"], done["edit"], done["add member"], done["remove member"]) > 0, (
        done
    )


def test_a_deleted_account_takes_its_lists_and_its_tasks_in_others_lists_from_every_device(client):
    auth = AuthActions(client)
    alice, bob = (auth.headers(name, f"{name}@example.com", "long enough") for name in ("alice", "bob"))
    hers = client.post(LISTS, json={"name": "hers"}, headers=alice).get_json()["id"]
    his = client.post(LISTS, json={"name": "his"}, headers=bob).get_json()["id"]
    assert (
        client.post(f"{LISTS}/{hers}/members", json={"username": "bob", "role": "editor"}, headers=alice).status_code
        == 201
    )
    assert (
        client.post(f"{LISTS}/{his}/members", json={"username": "alice", "role": "editor"}, headers=bob).status_code
        == 201
    )
    for headers, list_id in ((alice, hers), (bob, hers), (alice, his), (bob, his), (bob, None)):
        client.post(TASKS, json={"title": "t", "list_id": list_id}, headers=headers)
    bob_id = client.get("/api/v1/users/me", headers=bob).get_json()["id"]
    device = Device(client, bob)
    device.catch_up(limit=2)
    assert len(device.tasks) == 5
    assert client.delete("/api/v1/users/me", json={"current_password": "long enough"}, headers=alice).status_code == 204
    device.catch_up(limit=2)
    assert device.tasks == server_view(client, bob)
    # Left: bob's own task and his task in his list; hers went with her list, and her task in his list with her.
    assert sorted((str(task["list_id"]), task["owner_id"]) for task in device.tasks.values()) == sorted(
        [(str(his), bob_id), ("None", bob_id)]
    )
    assert [row["id"] for row in client.get(LISTS, headers=bob).get_json()] == [his]
    assert client.get(f"{LISTS}/{hers}", headers=bob).status_code == 404


@pytest.fixture
def alice_in_two_of_bobs_lists(client, database_url):
    """alice edits two lists of bob's, ``lower`` and ``higher`` by id (PostgreSQL: a second request commits
    while the first runs)."""
    from sqlalchemy.engine import make_url

    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("a second request committing during the first: PostgreSQL")
    auth = AuthActions(client)
    alice, bob = (auth.headers(name, f"{name}@example.com", "long enough") for name in ("alice", "bob"))
    lower, higher = (client.post(LISTS, json={"name": n}, headers=bob).get_json()["id"] for n in ("1", "2"))
    for list_id in (lower, higher):
        response = client.post(f"{LISTS}/{list_id}/members", json={"username": "alice", "role": "editor"}, headers=bob)
        assert response.status_code == 201
    return alice, bob, lower, higher


def delete_account_while_moving(app, client, monkeypatch, headers, task, to, mover):
    """alice deletes her account; ``mover`` moves her ``task`` to the list ``to`` just as the deletion has read
    where her tasks are (before it holds those lists). The deletion's answer."""
    from app.lists import store as list_store

    read = list_store.run
    moved = []

    def moved_meanwhile(statement, params):
        found = read(statement, params)
        if statement is list_store.TO_FORGET and not moved:
            answer = app.test_client().patch(f"{TASKS}/{task['id']}", json={"list_id": to}, headers=mover)
            moved.append(answer.status_code)
        return found

    monkeypatch.setattr(list_store, "run", moved_meanwhile)
    response = client.delete("/api/v1/users/me", json={"current_password": "long enough"}, headers=headers)
    monkeypatch.undo()
    assert moved == [200]
    return response


@pytest.mark.parametrize("another_left_behind", [True, False])
def test_a_task_moved_while_its_creators_account_goes_still_leaves_every_device(
    app, client, monkeypatch, alice_in_two_of_bobs_lists, another_left_behind
):
    """bob moves alice's task to another of his lists just as her account's deletion has read where her tasks
    are: the deletion finds it there too, and bob's devices and the list's count agree with what is left."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import lists, tasks

    alice, bob, first, second = alice_in_two_of_bobs_lists
    moved = client.post(TASKS, json={"title": "moved", "list_id": first}, headers=alice).get_json()
    if another_left_behind:
        client.post(TASKS, json={"title": "stays", "list_id": first}, headers=alice)
    device = Device(client, bob)
    device.catch_up(limit=5)
    assert delete_account_while_moving(app, client, monkeypatch, alice, moved, second, bob).status_code == 204
    device.catch_up(limit=5)
    assert device.tasks == server_view(client, bob) == {}
    with app.app_context():
        counted = dict(db.session.execute(select(lists.c.id, lists.c.task_count)).all())
        actual = dict(db.session.execute(select(tasks.c.list_id, func.count()).group_by(tasks.c.list_id)).all())
    assert counted == {first: actual.get(first, 0), second: actual.get(second, 0)} == {first: 0, second: 0}


def test_an_account_deletion_that_finds_a_task_moved_below_the_lists_it_holds_is_409_and_deletes_nothing(
    app, client, monkeypatch, alice_in_two_of_bobs_lists
):
    """Holding the list the task went to would break the order that keeps writes from deadlocking: the
    deletion is refused whole, and a second try goes through."""
    alice, bob, lower, higher = alice_in_two_of_bobs_lists
    moved = client.post(TASKS, json={"title": "moved", "list_id": higher}, headers=alice).get_json()
    client.post(TASKS, json={"title": "stays", "list_id": higher}, headers=alice)
    refused = delete_account_while_moving(app, client, monkeypatch, alice, moved, lower, bob)
    assert refused.status_code == 409
    assert refused.get_json() == {"detail": "Your tasks were moved meanwhile; try again"}
    assert len(server_view(client, alice)) == 2  # nothing of hers went
    assert client.delete("/api/v1/users/me", json={"current_password": "long enough"}, headers=alice).status_code == 204
    assert server_view(client, bob) == {}
