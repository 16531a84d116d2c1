"""Shared lists (issue 20), through HTTP: lists, their members, the tasks in them, and sync across people.

In short: every list has one owner; its other members are editors (read and write its tasks)
or viewers (read only). Anyone else, a former member included, sees nothing of the list: a 404,
exactly like a list or task that does not exist. Each person's synced device holds what GET /tasks shows.
"""

import re
from types import SimpleNamespace

import pytest

from app.tasks.cursors import sign
from tests.conftest import AuthActions
from tests.test_tasks import TASK_FIELDS

LISTS = "/api/v1/lists"
TASKS = "/api/v1/tasks"
CHANGES = "/api/v1/tasks/changes"

LIST_FIELDS = {"id", "name", "owner_id", "role", "created_at", "updated_at"}
MEMBER_FIELDS = {"user_id", "username", "role"}

LIST_NOT_FOUND = {"detail": "List not found"}
TASK_NOT_FOUND = {"detail": "Task not found"}
USER_NOT_FOUND = {"detail": "User not found"}
MEMBER_NOT_FOUND = {"detail": "Member not found"}
OWNER_ONLY = {"detail": "Only the list's owner can do this"}
READ_ONLY = {"detail": "Read-only access to this list"}
ALREADY_MEMBER = {"detail": "User is already a member of this list"}
OWNER_ROLE_FIXED = {"detail": "The owner's role cannot change"}
OWNER_CANNOT_LEAVE = {"detail": "The owner cannot leave the list; delete it instead"}
CREATOR_ONLY = {"detail": "Only the task's creator can make it private"}
TASK_CHANGED = {"detail": "Task has changed since it was read"}
LIST_LIMIT = {"detail": "List limit reached"}
TASK_LIMIT = {"detail": "Task limit reached"}


# --- people and their requests ----------------------------------------------------------------


class Person:
    """A signed-up user and their requests: ``alice.get(path)``, ``alice.patch(path, json=...)``."""

    def __init__(self, client, name):
        self.client, self.name = client, name
        self.headers = AuthActions(client).headers(name, f"{name}@example.com", f"{name} password")
        self.id = self.get("/api/v1/users/me").get_json()["id"]

    def __repr__(self):
        return self.name

    def send(self, method, path, json=None, headers=None, **kwargs):
        return self.client.open(path, method=method, json=json, headers={**self.headers, **(headers or {})}, **kwargs)

    def get(self, path, **kwargs):
        return self.send("GET", path, **kwargs)

    def post(self, path, **kwargs):
        return self.send("POST", path, **kwargs)

    def put(self, path, **kwargs):
        return self.send("PUT", path, **kwargs)

    def patch(self, path, **kwargs):
        return self.send("PATCH", path, **kwargs)

    def delete(self, path, **kwargs):
        return self.send("DELETE", path, **kwargs)


@pytest.fixture
def people(client):
    """``people("alice", "bob")``: new users, in the order given (so their ids grow in that order)."""

    def sign_up(*names):
        made = [Person(client, name) for name in names]
        return made if len(made) > 1 else made[0]

    return sign_up


def answer(response, status, body=None):
    """Assert the status (and the whole body, when given); return the body."""
    assert response.status_code == status, (response.status_code, response.get_json())
    if body is not None:
        assert response.get_json() == body
    return response.get_json()


def list_url(shared):
    return f"{LISTS}/{shared['id']}"


def members_url(shared):
    return f"{LISTS}/{shared['id']}/members"


def member_url(shared, person):
    return f"{LISTS}/{shared['id']}/members/{person.id}"


def task_url(task):
    return f"{TASKS}/{task['id']}"


def make_list(owner, name="Groceries"):
    return answer(owner.post(LISTS, json={"name": name}), 201)


def add_member(owner, shared, member, role="editor"):
    return answer(owner.post(members_url(shared), json={"username": member.name, "role": role}), 201)


def remove_member(actor, shared, member):
    answer(actor.delete(member_url(shared, member)), 204)


def make_task(person, into=None, title="Buy milk", **fields):
    """A task of ``person``'s: private, or in the list ``into``."""
    body = {"title": title, **fields}
    if into is not None:
        body["list_id"] = into["id"]
    return answer(person.post(TASKS, json=body), 201)


def members(person, shared):
    return [(m["username"], m["role"]) for m in answer(person.get(members_url(shared)), 200)]


def visible(person, query=""):
    """The ids of GET /tasks?limit=100 (and ``query``), in the order sent."""
    return [task["id"] for task in answer(person.get(f"{TASKS}?limit=100{query}"), 200)]


def server_view(person):
    """What GET /tasks?limit=100 shows ``person``, by id: what their device must hold after a sync."""
    tasks = answer(person.get(f"{TASKS}?limit=100"), 200)
    assert len(tasks) < 100  # one page holds everything
    return {task["id"]: task for task in tasks}


class Device:
    """One of a person's devices: the tasks it holds after applying each page of the sync, and its cursor."""

    def __init__(self, person, limit=500):
        self.person, self.limit = person, limit
        self.cursor, self.tasks = None, {}

    def sync(self):
        """Follow the cursor until has_more is false; returns the ids each page changed and deleted."""
        changed, deleted = [], []
        while True:
            query = {"limit": self.limit, **({"since": self.cursor} if self.cursor else {})}
            page = answer(self.person.get(CHANGES, query_string=query), 200)
            page_changed = [task["id"] for task in page["changes"]]
            assert not set(page_changed) & set(page["deleted"]), f"an id both changed and deleted in one page: {page}"
            for task in page["changes"]:
                self.tasks[task["id"]] = task
            for task_id in page["deleted"]:
                self.tasks.pop(task_id, None)
            changed += page_changed
            deleted += page["deleted"]
            self.cursor = page["next_cursor"]
            if not page["has_more"]:
                return SimpleNamespace(changed=changed, deleted=deleted)

    def agrees_with_the_server(self):
        return self.tasks == server_view(self.person)


# --- lists --------------------------------------------------------------------------------------


def test_a_new_list_belongs_to_its_creator(people):
    alice = people("alice")
    response = alice.post(LISTS, json={"name": "Groceries"})
    created = answer(response, 201)
    assert set(created) == LIST_FIELDS
    assert (created["name"], created["owner_id"], created["role"]) == ("Groceries", alice.id, "owner")
    assert answer(alice.get(list_url(created)), 200) == created
    assert answer(alice.get(LISTS), 200) == [created]


def test_the_owner_renames_the_list(people):
    alice = people("alice")
    shared = make_list(alice)
    renamed = answer(alice.patch(list_url(shared), json={"name": "Weekend shopping"}), 200)
    assert renamed["name"] == "Weekend shopping"
    assert {k: v for k, v in renamed.items() if k not in ("name", "updated_at")} == {
        k: v for k, v in shared.items() if k not in ("name", "updated_at")
    }
    assert answer(alice.get(list_url(shared)), 200) == renamed


def test_the_owner_deletes_the_list(people):
    alice = people("alice")
    shared = make_list(alice)
    response = alice.delete(list_url(shared))
    assert response.status_code == 204 and response.get_data() == b""
    answer(alice.get(list_url(shared)), 404, LIST_NOT_FOUND)
    answer(alice.delete(list_url(shared)), 404, LIST_NOT_FOUND)
    assert answer(alice.get(LISTS), 200) == []


def test_my_lists_come_in_id_order_each_with_my_role(people):
    alice, bob, carol = people("alice", "bob", "carol")
    first = make_list(alice, "Home")
    bobs = make_list(bob, "Bob's")
    carols = make_list(carol, "Carol's")
    last = make_list(alice, "Garden")
    add_member(carol, carols, alice, "editor")  # joined before bob's, but bob's list is older
    add_member(bob, bobs, alice, "viewer")
    mine = answer(alice.get(LISTS), 200)
    assert [(lst["id"], lst["name"], lst["role"]) for lst in mine] == [
        (first["id"], "Home", "owner"),
        (bobs["id"], "Bob's", "viewer"),
        (carols["id"], "Carol's", "editor"),
        (last["id"], "Garden", "owner"),
    ]
    assert all(set(lst) == LIST_FIELDS for lst in mine)
    assert [lst["owner_id"] for lst in mine] == [alice.id, bob.id, carol.id, alice.id]
    assert [lst["name"] for lst in answer(bob.get(LISTS), 200)] == ["Bob's"]


@pytest.mark.parametrize("list_id", ["987654", str(2**31)])
@pytest.mark.parametrize("method", ["get", "patch", "delete"])
def test_a_list_that_does_not_exist_is_404(people, list_id, method):
    alice = people("alice")
    answer(getattr(alice, method)(f"{LISTS}/{list_id}", json={"name": "x"}), 404, LIST_NOT_FOUND)
    answer(alice.get(f"{LISTS}/{list_id}/members"), 404, LIST_NOT_FOUND)
    answer(alice.post(f"{LISTS}/{list_id}/members", json={"username": "alice", "role": "viewer"}), 404, LIST_NOT_FOUND)


@pytest.mark.parametrize("name", ["x", "x" * 100, "Lebensmittel für die Woche", "  padded  "])
def test_a_name_of_1_to_100_characters_is_a_list(people, name):
    alice = people("alice")
    assert make_list(alice, name)["name"].strip() == name.strip()


BAD_NAMES = [
    pytest.param({"name": ""}, id="empty"),
    pytest.param({"name": "x" * 101}, id="101 characters"),
    pytest.param({"name": "   "}, id="spaces only"),
    pytest.param({"name": "\u3000\u2003 "}, id="wide spaces only"),
    pytest.param({"name": 5}, id="a number"),
    pytest.param({"name": ["Groceries"]}, id="an array"),
    pytest.param({"name": None}, id="null"),
    pytest.param({"name": "nul\x00byte"}, id="NUL"),
    pytest.param({"name": "bell\x07"}, id="control character"),
    pytest.param({}, id="missing"),
    pytest.param({"name": "ok", "owner_id": 1}, id="unknown field"),
]


@pytest.mark.parametrize("body", BAD_NAMES)
def test_a_bad_list_name_is_422_and_creates_nothing(people, body):
    alice = people("alice")
    payload = answer(alice.post(LISTS, json=body), 422)
    assert isinstance(payload["detail"], str)
    assert answer(alice.get(LISTS), 200) == []


@pytest.mark.parametrize("body", [b for b in BAD_NAMES if b.id not in ("missing",)])
def test_a_bad_new_name_is_422_and_keeps_the_old_one(people, body):
    alice = people("alice")
    shared = make_list(alice)
    payload = answer(alice.patch(list_url(shared), json=body), 422)
    assert isinstance(payload["detail"], str)
    assert answer(alice.get(list_url(shared)), 200) == shared


def test_a_retried_list_create_answers_the_same_list_and_creates_one(people):
    alice = people("alice")
    headers = {"Idempotency-Key": "new-list-1"}
    first = alice.post(LISTS, json={"name": "Groceries"}, headers=headers)
    again = alice.post(LISTS, json={"name": "Groceries"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert answer(alice.get(LISTS), 200) == [first.get_json()]


def test_the_same_idempotency_key_with_another_list_name_is_422(people):
    alice = people("alice")
    headers = {"Idempotency-Key": "new-list-2"}
    answer(alice.post(LISTS, json={"name": "Groceries"}, headers=headers), 201)
    answer(
        alice.post(LISTS, json={"name": "Hardware"}, headers=headers),
        422,
        {"detail": "Idempotency-Key was already used with another request"},
    )
    assert [lst["name"] for lst in answer(alice.get(LISTS), 200)] == ["Groceries"]


def test_lists_owned_or_joined_count_towards_max_lists_per_user(make_app):
    client = make_app(MAX_LISTS_PER_USER="2").test_client()
    alice, bob = Person(client, "alice"), Person(client, "bob")
    make_list(alice, "Mine")
    bobs = make_list(bob, "Bob's")
    add_member(bob, bobs, alice, "viewer")  # alice: one owned, one joined
    answer(alice.post(LISTS, json={"name": "One too many"}), 409, LIST_LIMIT)
    assert [lst["name"] for lst in answer(alice.get(LISTS), 200)] == ["Mine", "Bob's"]
    make_list(bob, "Bob's second")  # bob's limit is his own
    remove_member(alice, bobs, alice)  # leaving makes room
    make_list(alice, "Now it fits")
    # A member is not added past their own limit either (alice: two lists of her own now).
    answer(bob.post(members_url(bobs), json={"username": "alice", "role": "viewer"}), 409)
    assert answer(bob.get(members_url(bobs)), 200) == [{"user_id": bob.id, "username": "bob", "role": "owner"}]


@pytest.fixture
def four_writes_a_minute(make_app):
    """A client of an app whose users may write four times a minute."""
    yield make_app(
        RATELIMIT_ENABLED="true", RATELIMIT_TASK_WRITES="4/minute", RATELIMIT_STORAGE_URI="memory://"
    ).test_client()
    make_app()  # the limiter is one object, set up by the last app made: one without limits, as the suite's


def test_list_and_member_writes_share_the_task_write_budget(four_writes_a_minute):
    client = four_writes_a_minute
    alice, bob = Person(client, "alice"), Person(client, "bob")
    shared = make_list(alice)  # 1
    add_member(alice, shared, bob, "editor")  # 2
    answer(alice.patch(member_url(shared, bob), json={"role": "viewer"}), 200)  # 3
    answer(alice.patch(list_url(shared), json={"name": "Renamed"}), 200)  # 4
    answer(alice.post(TASKS, json={"title": "one too many"}), 429)
    answer(alice.post(LISTS, json={"name": "another"}), 429)
    answer(alice.delete(member_url(shared, bob)), 429)
    answer(alice.delete(list_url(shared)), 429)
    assert answer(alice.get(list_url(shared)), 200)["name"] == "Renamed"  # reads are not held back
    answer(bob.post(LISTS, json={"name": "Bob's"}), 201)  # bob's budget is his own


# --- who may do what: owner, editor, viewer, and those outside the list ----------------------

MEMBERS = ("owner", "editor", "viewer")
OUTSIDERS = ("stranger", "removed", "left")  # never in it; removed by the owner; left by themself
ROLES = MEMBERS + OUTSIDERS


@pytest.fixture
def team(people):
    """alice owns Groceries, with one task in it; bob edits it, carol views it; dave was never in it;
    erin was an editor until alice removed her; fred was a viewer until he left. gina is a viewer
    for the member tests to act on; hank is in no list."""
    alice, bob, carol, dave, erin, fred, gina, hank = people(
        "alice", "bob", "carol", "dave", "erin", "fred", "gina", "hank"
    )
    shared = make_list(alice)
    for member, role in ((bob, "editor"), (carol, "viewer"), (erin, "editor"), (fred, "viewer"), (gina, "viewer")):
        add_member(alice, shared, member, role)
    task = make_task(alice, into=shared, title="Milk")
    remove_member(alice, shared, erin)
    remove_member(fred, shared, fred)
    as_role = dict(zip(ROLES, (alice, bob, carol, dave, erin, fred), strict=True))
    return SimpleNamespace(list=shared, task=task, owner=alice, target=gina, newcomer=hank, as_role=as_role.__getitem__)


def by_role(owner=None, editor=None, viewer=None, outsiders=None):
    """{role: expected (status, body)}: each member role's, and one for every outsider."""
    return {"owner": owner, "editor": editor, "viewer": viewer, **dict.fromkeys(OUTSIDERS, outsiders)}


@pytest.mark.parametrize("role", ROLES)
def test_only_members_see_the_list(team, role):
    me = team.as_role(role)
    response = me.get(list_url(team.list))
    if role in MEMBERS:
        seen = answer(response, 200)
        assert (seen["id"], seen["name"], seen["owner_id"], seen["role"]) == (
            team.list["id"],
            "Groceries",
            team.owner.id,
            role,
        )
        assert [(lst["id"], lst["role"]) for lst in answer(me.get(LISTS), 200)] == [(team.list["id"], role)]
    else:
        answer(response, 404, LIST_NOT_FOUND)
        assert answer(me.get(LISTS), 200) == []


RENAME = by_role(owner=(200, None), editor=(403, OWNER_ONLY), viewer=(403, OWNER_ONLY), outsiders=(404, LIST_NOT_FOUND))


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_renames_the_list(team, role):
    status, body = RENAME[role]
    answer(team.as_role(role).patch(list_url(team.list), json={"name": "Renamed"}), status, body)
    expected = "Renamed" if status == 200 else "Groceries"
    assert answer(team.owner.get(list_url(team.list)), 200)["name"] == expected


DELETE_LIST = by_role(
    owner=(204, None), editor=(403, OWNER_ONLY), viewer=(403, OWNER_ONLY), outsiders=(404, LIST_NOT_FOUND)
)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_deletes_the_list(team, role):
    status, body = DELETE_LIST[role]
    answer(team.as_role(role).delete(list_url(team.list)), status, body)
    if status == 204:
        answer(team.owner.get(list_url(team.list)), 404, LIST_NOT_FOUND)
        answer(team.owner.get(task_url(team.task)), 404, TASK_NOT_FOUND)
    else:
        answer(team.owner.get(list_url(team.list)), 200)
        assert answer(team.owner.get(task_url(team.task)), 200) == team.task


@pytest.mark.parametrize("role", ROLES)
def test_every_member_sees_who_is_in_the_list(team, role):
    response = team.as_role(role).get(members_url(team.list))
    if role in MEMBERS:
        assert answer(response, 200)[0] == {"user_id": team.owner.id, "username": "alice", "role": "owner"}
        assert all(set(member) == MEMBER_FIELDS for member in response.get_json())
        assert [m["username"] for m in response.get_json()] == ["alice", "bob", "carol", "gina"]
    else:
        answer(response, 404, LIST_NOT_FOUND)


ADD_MEMBER = by_role(
    owner=(201, None), editor=(403, OWNER_ONLY), viewer=(403, OWNER_ONLY), outsiders=(404, LIST_NOT_FOUND)
)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_adds_members(team, role):
    status, body = ADD_MEMBER[role]
    response = team.as_role(role).post(members_url(team.list), json={"username": "hank", "role": "viewer"})
    answer(response, status, body)
    if status == 201:
        assert response.get_json() == {"user_id": team.newcomer.id, "username": "hank", "role": "viewer"}
    assert (("hank", "viewer") in members(team.owner, team.list)) == (status == 201)


CHANGE_ROLE = by_role(
    owner=(200, None), editor=(403, OWNER_ONLY), viewer=(403, OWNER_ONLY), outsiders=(404, LIST_NOT_FOUND)
)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_changes_roles(team, role):
    status, body = CHANGE_ROLE[role]
    answer(team.as_role(role).patch(member_url(team.list, team.target), json={"role": "editor"}), status, body)
    expected = "editor" if status == 200 else "viewer"
    assert ("gina", expected) in members(team.owner, team.list)


REMOVE_MEMBER = by_role(
    owner=(204, None), editor=(403, OWNER_ONLY), viewer=(403, OWNER_ONLY), outsiders=(404, LIST_NOT_FOUND)
)


@pytest.mark.parametrize("role", ROLES)
def test_only_the_owner_removes_someone_else(team, role):
    status, body = REMOVE_MEMBER[role]
    answer(team.as_role(role).delete(member_url(team.list, team.target)), status, body)
    assert (("gina", "viewer") in members(team.owner, team.list)) == (status != 204)


@pytest.mark.parametrize("role", ROLES)
def test_every_member_reads_the_lists_tasks(team, role):
    me = team.as_role(role)
    response = me.get(task_url(team.task))
    if role in MEMBERS:
        assert answer(response, 200) == team.task
        assert visible(me) == [team.task["id"]]
        assert visible(me, f"&list_id={team.list['id']}") == [team.task["id"]]
    else:
        answer(response, 404, TASK_NOT_FOUND)
        assert visible(me) == []
        answer(me.get(f"{TASKS}?list_id={team.list['id']}"), 404, LIST_NOT_FOUND)


@pytest.mark.parametrize("role", ROLES)
def test_a_full_sync_brings_the_lists_tasks_to_members_only(team, role):
    device = Device(team.as_role(role))
    device.sync()
    assert (team.task["id"] in device.tasks) == (role in MEMBERS)
    assert device.agrees_with_the_server()


TASK_WRITE = by_role(owner=(200, None), editor=(200, None), viewer=(403, READ_ONLY), outsiders=(404, TASK_NOT_FOUND))


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize("role", ROLES)
def test_owners_and_editors_update_the_lists_tasks(team, role, method):
    status, body = TASK_WRITE[role]
    response = getattr(team.as_role(role), method)(task_url(team.task), json={"title": "Oat milk", "completed": True})
    answer(response, status, body)
    now = answer(team.owner.get(task_url(team.task)), 200)
    if status == 200:
        assert (now["title"], now["completed"], now["list_id"]) == ("Oat milk", True, team.list["id"])
        assert now["owner_id"] == team.owner.id  # still the creator's
        assert response.get_json() == now
    else:
        assert now == team.task  # nothing changed, not even updated_at


TASK_DELETE = by_role(owner=(204, None), editor=(204, None), viewer=(403, READ_ONLY), outsiders=(404, TASK_NOT_FOUND))


@pytest.mark.parametrize("role", ROLES)
def test_owners_and_editors_delete_the_lists_tasks(team, role):
    status, body = TASK_DELETE[role]
    answer(team.as_role(role).delete(task_url(team.task)), status, body)
    if status == 204:
        answer(team.owner.get(task_url(team.task)), 404, TASK_NOT_FOUND)
    else:
        assert answer(team.owner.get(task_url(team.task)), 200) == team.task


TASK_CREATE = by_role(owner=(201, None), editor=(201, None), viewer=(403, READ_ONLY), outsiders=(404, LIST_NOT_FOUND))


@pytest.mark.parametrize("role", ROLES)
def test_owners_and_editors_add_tasks_to_the_list(team, role):
    me = team.as_role(role)
    status, body = TASK_CREATE[role]
    response = me.post(TASKS, json={"title": "Bread", "list_id": team.list["id"]})
    answer(response, status, body)
    in_list = visible(team.owner, f"&list_id={team.list['id']}")
    if status == 201:
        created = response.get_json()
        assert set(created) == TASK_FIELDS
        assert (created["list_id"], created["owner_id"], created["title"]) == (team.list["id"], me.id, "Bread")
        assert in_list == [team.task["id"], created["id"]]
        assert answer(team.as_role("viewer").get(task_url(created)), 200) == created
    else:
        assert in_list == [team.task["id"]]
        assert visible(me, "&list_id=none") == []  # nor did it become a private task


# --- members ------------------------------------------------------------------------------------


def test_adding_a_member_answers_who_they_are_and_their_role(people):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    response = alice.post(members_url(shared), json={"username": "bob", "role": "viewer"})
    assert answer(response, 201) == {"user_id": bob.id, "username": "bob", "role": "viewer"}
    assert answer(bob.get(list_url(shared)), 200)["role"] == "viewer"


def test_the_username_is_found_in_any_case(people):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    response = alice.post(members_url(shared), json={"username": "BoB", "role": "editor"})
    assert answer(response, 201) == {"user_id": bob.id, "username": "bob", "role": "editor"}


def test_adding_an_unknown_username_is_404(people):
    alice = people("alice")
    shared = make_list(alice)
    answer(alice.post(members_url(shared), json={"username": "nobody", "role": "editor"}), 404, USER_NOT_FOUND)
    assert members(alice, shared) == [("alice", "owner")]


@pytest.mark.parametrize("who", ["bob", "alice", "ALICE"])
def test_adding_someone_already_in_the_list_is_400(people, who):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    add_member(alice, shared, bob, "viewer")
    answer(alice.post(members_url(shared), json={"username": who, "role": "editor"}), 400, ALREADY_MEMBER)
    assert members(alice, shared) == [("alice", "owner"), ("bob", "viewer")]


@pytest.mark.parametrize("role", ["owner", "admin", "", None, 1])
def test_a_member_is_an_editor_or_a_viewer(people, role):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    payload = answer(alice.post(members_url(shared), json={"username": "bob", "role": role}), 422)
    assert isinstance(payload["detail"], str)
    add_member(alice, shared, bob, "viewer")
    payload = answer(alice.patch(member_url(shared, bob), json={"role": role}), 422)
    assert isinstance(payload["detail"], str)
    assert members(alice, shared) == [("alice", "owner"), ("bob", "viewer")]


def test_members_come_owner_first_then_in_the_order_they_joined(people):
    alice, bob, carol, dave = people("alice", "bob", "carol", "dave")
    shared = make_list(carol)  # the owner is not the oldest user
    for member in (dave, alice, bob):
        add_member(carol, shared, member, "viewer")
    expected = ["carol", "dave", "alice", "bob"]
    for person in (alice, bob, carol, dave):
        assert [name for name, _ in members(person, shared)] == expected
    answer(carol.patch(member_url(shared, dave), json={"role": "editor"}), 200)
    assert members(alice, shared) == [("carol", "owner"), ("dave", "editor"), ("alice", "viewer"), ("bob", "viewer")]
    assert answer(bob.get(members_url(shared)), 200)[0] == {"user_id": carol.id, "username": "carol", "role": "owner"}


def test_the_owner_changes_a_members_role(people):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    task = make_task(alice, into=shared)
    add_member(alice, shared, bob, "editor")
    demoted = alice.patch(member_url(shared, bob), json={"role": "viewer"})
    assert answer(demoted, 200) == {"user_id": bob.id, "username": "bob", "role": "viewer"}
    assert answer(bob.get(list_url(shared)), 200)["role"] == "viewer"
    answer(bob.patch(task_url(task), json={"title": "mine now"}), 403, READ_ONLY)
    promoted = alice.patch(member_url(shared, bob), json={"role": "editor"})
    assert answer(promoted, 200) == {"user_id": bob.id, "username": "bob", "role": "editor"}
    assert answer(bob.patch(task_url(task), json={"title": "mine now"}), 200)["title"] == "mine now"


def test_changing_the_role_of_someone_not_in_the_list_is_404(people):
    alice, dave = people("alice", "dave")
    shared = make_list(alice)
    answer(alice.patch(member_url(shared, dave), json={"role": "editor"}), 404, MEMBER_NOT_FOUND)
    answer(alice.patch(f"{members_url(shared)}/987654", json={"role": "editor"}), 404, MEMBER_NOT_FOUND)


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_the_owners_role_cannot_change(people, role):
    alice = people("alice")
    shared = make_list(alice)
    answer(alice.patch(member_url(shared, alice), json={"role": role}), 400, OWNER_ROLE_FIXED)
    assert answer(alice.get(list_url(shared)), 200)["role"] == "owner"


def test_the_owner_removes_a_member(people):
    alice, bob, carol = people("alice", "bob", "carol")
    shared = make_list(alice)
    task = make_task(alice, into=shared)
    add_member(alice, shared, bob, "editor")
    add_member(alice, shared, carol, "viewer")
    response = alice.delete(member_url(shared, bob))
    assert response.status_code == 204 and response.get_data() == b""
    assert members(alice, shared) == [("alice", "owner"), ("carol", "viewer")]
    answer(bob.get(list_url(shared)), 404, LIST_NOT_FOUND)
    answer(bob.get(task_url(task)), 404, TASK_NOT_FOUND)
    answer(alice.delete(member_url(shared, bob)), 404, MEMBER_NOT_FOUND)  # not a member any more


@pytest.mark.parametrize("role", ["editor", "viewer"])
def test_a_member_leaves_the_list(people, role):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    task = make_task(alice, into=shared)
    add_member(alice, shared, bob, role)
    answer(bob.delete(member_url(shared, bob)), 204)
    assert members(alice, shared) == [("alice", "owner")]
    answer(bob.get(list_url(shared)), 404, LIST_NOT_FOUND)
    answer(bob.get(task_url(task)), 404, TASK_NOT_FOUND)
    assert answer(bob.get(LISTS), 200) == []


def test_the_owner_cannot_leave_their_list(people):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    add_member(alice, shared, bob, "editor")
    answer(alice.delete(member_url(shared, alice)), 400, OWNER_CANNOT_LEAVE)
    assert members(bob, shared) == [("alice", "owner"), ("bob", "editor")]


@pytest.mark.parametrize("actor_role", ["editor", "viewer"])
def test_a_member_cannot_remove_another(people, actor_role):
    alice, bob, carol = people("alice", "bob", "carol")
    shared = make_list(alice)
    add_member(alice, shared, bob, actor_role)
    add_member(alice, shared, carol, "viewer")
    answer(bob.delete(member_url(shared, carol)), 403, OWNER_ONLY)
    answer(bob.delete(member_url(shared, alice)), 403, OWNER_ONLY)
    assert members(alice, shared) == [("alice", "owner"), ("bob", actor_role), ("carol", "viewer")]


def test_removing_someone_not_in_the_list_is_404(people):
    alice, dave = people("alice", "dave")
    shared = make_list(alice)
    answer(alice.delete(member_url(shared, dave)), 404, MEMBER_NOT_FOUND)
    answer(alice.delete(f"{members_url(shared)}/987654"), 404, MEMBER_NOT_FOUND)


def test_a_removed_member_can_be_added_again(people):
    alice, bob = people("alice", "bob")
    shared = make_list(alice)
    task = make_task(alice, into=shared)
    add_member(alice, shared, bob, "editor")
    remove_member(alice, shared, bob)
    add_member(alice, shared, bob, "viewer")
    assert answer(bob.get(task_url(task)), 200) == task
    assert answer(bob.get(list_url(shared)), 200)["role"] == "viewer"


# --- tasks in lists -----------------------------------------------------------------------------


def test_a_private_task_has_no_list(people):
    alice = people("alice")
    for body in ({"title": "mine"}, {"title": "mine", "list_id": None}):
        task = answer(alice.post(TASKS, json=body), 201)
        assert set(task) == TASK_FIELDS
        assert (task["list_id"], task["owner_id"]) == (None, alice.id)
        assert answer(alice.get(task_url(task)), 200)["list_id"] is None


@pytest.mark.parametrize("list_id", ["abc", True, [1]])
def test_a_list_id_that_is_not_a_number_is_422(people, list_id):
    alice = people("alice")
    answer(alice.post(TASKS, json={"title": "x", "list_id": list_id}), 422)
    assert visible(alice) == []


def test_a_task_for_a_list_that_does_not_exist_is_404(people):
    alice = people("alice")
    answer(alice.post(TASKS, json={"title": "x", "list_id": 987654}), 404, LIST_NOT_FOUND)
    task = make_task(alice)
    answer(alice.patch(task_url(task), json={"list_id": 987654}), 404, LIST_NOT_FOUND)
    assert answer(alice.get(task_url(task)), 200) == task


@pytest.fixture
def households(people):
    """alice and bob each have a private task; alice owns Home (bob edits it) with a task of each;
    carol owns Work (bob only) with one task; alice has no part in Work."""
    alice, bob, carol = people("alice", "bob", "carol")
    home, work = make_list(alice, "Home"), make_list(carol, "Work")
    add_member(alice, home, bob, "editor")
    add_member(carol, work, bob, "editor")
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        carol=carol,
        home=home,
        work=work,
        alices=make_task(alice, title="alice's own"),
        bobs=make_task(bob, title="bob's own"),
        home_by_alice=make_task(alice, into=home, title="home by alice", completed=True),
        home_by_bob=make_task(bob, into=home, title="home by bob"),
        work_by_carol=make_task(carol, into=work, title="work by carol"),
    )


def test_my_tasks_are_my_private_ones_and_every_one_of_my_lists(households):
    h = households
    assert visible(h.alice) == [h.alices["id"], h.home_by_alice["id"], h.home_by_bob["id"]]
    assert visible(h.bob) == [h.bobs["id"], h.home_by_alice["id"], h.home_by_bob["id"], h.work_by_carol["id"]]
    assert visible(h.carol) == [h.work_by_carol["id"]]
    assert answer(h.alice.get(task_url(h.home_by_bob)), 200)["owner_id"] == h.bob.id
    answer(h.alice.get(task_url(h.bobs)), 404, TASK_NOT_FOUND)  # bob's private task stays his
    answer(h.alice.get(task_url(h.work_by_carol)), 404, TASK_NOT_FOUND)


def test_list_id_picks_one_list_or_the_private_tasks(households):
    h = households
    home_ids = [h.home_by_alice["id"], h.home_by_bob["id"]]
    assert visible(h.alice, f"&list_id={h.home['id']}") == home_ids
    assert visible(h.bob, f"&list_id={h.home['id']}") == home_ids
    assert visible(h.bob, f"&list_id={h.work['id']}") == [h.work_by_carol["id"]]
    assert visible(h.alice, "&list_id=none") == [h.alices["id"]]
    assert visible(h.bob, "&list_id=none") == [h.bobs["id"]]
    assert visible(h.carol, "&list_id=none") == []
    answer(h.alice.get(f"{TASKS}?list_id={h.work['id']}"), 404, LIST_NOT_FOUND)
    answer(h.alice.get(f"{TASKS}?list_id=987654"), 404, LIST_NOT_FOUND)


@pytest.mark.parametrize("value", ["abc", "1x", "null"])
def test_a_list_id_filter_that_is_not_a_number_or_none_is_422(households, value):
    payload = answer(households.alice.get(f"{TASKS}?list_id={value}"), 422)
    assert isinstance(payload["detail"], str)


def links(response):
    return {rel: target for target, rel in re.findall(r'<([^>]*)>; rel="(\w+)"', response.headers["Link"])}


def test_list_id_combines_with_filters_sorts_and_cursors(households):
    h = households
    home = h.home["id"]
    more = [make_task(h.bob, into=h.home, title=f"more {n}")["id"] for n in range(3)]
    assert visible(h.alice, f"&list_id={home}&completed=true") == [h.home_by_alice["id"]]
    assert visible(h.alice, f"&list_id={home}&q=by%20bob") == [h.home_by_bob["id"]]
    assert visible(h.alice, f"&list_id={home}&sort=-id") == [
        *reversed(more),
        h.home_by_bob["id"],
        h.home_by_alice["id"],
    ]
    assert visible(h.alice, "&list_id=none&completed=false") == [h.alices["id"]]
    counted = h.alice.get(f"{TASKS}?list_id={home}&count=true")
    assert counted.headers["X-Total-Count"] == "5"
    pages, path = [], f"{TASKS}?list_id={home}&limit=2"
    while path:  # the cursor in Link keeps to the list
        response = h.alice.get(path)
        pages.append([task["id"] for task in answer(response, 200)])
        path = links(response).get("next")
    assert pages == [[h.home_by_alice["id"], h.home_by_bob["id"]], more[:2], more[2:]]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_creator_moves_a_private_task_into_a_list(households, method):
    h = households
    moved = answer(getattr(h.alice, method)(task_url(h.alices), json={"list_id": h.home["id"]}), 200)
    assert (moved["list_id"], moved["owner_id"], moved["title"]) == (h.home["id"], h.alice.id, "alice's own")
    assert answer(h.bob.get(task_url(h.alices)), 200) == moved
    assert h.alices["id"] in visible(h.bob, f"&list_id={h.home['id']}")
    assert visible(h.alice, "&list_id=none") == []


def test_moving_into_a_list_needs_owner_or_editor_there(households):
    h = households
    add_member(h.carol, h.work, h.alice, "viewer")
    answer(h.alice.patch(task_url(h.alices), json={"list_id": h.work["id"]}), 403, READ_ONLY)
    remove_member(h.carol, h.work, h.alice)
    answer(h.alice.patch(task_url(h.alices), json={"list_id": h.work["id"]}), 404, LIST_NOT_FOUND)
    assert answer(h.alice.get(task_url(h.alices)), 200) == h.alices
    assert visible(h.carol) == [h.work_by_carol["id"]]


@pytest.mark.parametrize("method", ["put", "patch"])
def test_an_editor_of_both_lists_moves_a_task_between_them(households, method):
    h = households
    moved = answer(getattr(h.bob, method)(task_url(h.home_by_alice), json={"list_id": h.work["id"]}), 200)
    assert (moved["list_id"], moved["owner_id"]) == (h.work["id"], h.alice.id)
    assert answer(h.carol.get(task_url(h.home_by_alice)), 200) == moved
    answer(h.alice.get(task_url(h.home_by_alice)), 404, TASK_NOT_FOUND)  # alice is not in Work
    assert visible(h.alice) == [h.alices["id"], h.home_by_bob["id"]]


def test_a_move_between_lists_needs_owner_or_editor_on_both(households, people):
    h = households
    dave = people("dave")
    viewed = make_list(dave, "Dave's, bob views")
    add_member(dave, viewed, h.bob, "viewer")
    unseen = make_list(dave, "Dave's alone")
    from_viewed = make_task(dave, into=viewed, title="in dave's")
    # To a list bob only views, to one he cannot see, and from one he only views.
    answer(h.bob.patch(task_url(h.home_by_alice), json={"list_id": viewed["id"]}), 403, READ_ONLY)
    answer(h.bob.patch(task_url(h.home_by_alice), json={"list_id": unseen["id"]}), 404, LIST_NOT_FOUND)
    answer(h.bob.patch(task_url(from_viewed), json={"list_id": h.home["id"]}), 403, READ_ONLY)
    assert answer(h.alice.get(task_url(h.home_by_alice)), 200) == h.home_by_alice
    assert answer(dave.get(task_url(from_viewed)), 200) == from_viewed
    assert visible(dave, f"&list_id={unseen['id']}") == []
    # alice owns Home and may write its tasks, but cannot take one into Work, where she is nobody.
    answer(h.alice.put(task_url(h.home_by_bob), json={"list_id": h.work["id"]}), 404, LIST_NOT_FOUND)
    assert answer(h.bob.get(task_url(h.home_by_bob)), 200) == h.home_by_bob


def test_only_its_creator_makes_a_shared_task_private(households):
    h = households
    # alice owns Home but did not create bob's task; bob edits Home but did not create alice's.
    answer(h.alice.patch(task_url(h.home_by_bob), json={"list_id": None}), 403, CREATOR_ONLY)
    answer(h.bob.put(task_url(h.home_by_alice), json={"list_id": None}), 403, CREATOR_ONLY)
    assert answer(h.alice.get(task_url(h.home_by_bob)), 200) == h.home_by_bob
    assert answer(h.bob.get(task_url(h.home_by_alice)), 200) == h.home_by_alice

    private = answer(h.bob.patch(task_url(h.home_by_bob), json={"list_id": None}), 200)
    assert (private["list_id"], private["owner_id"]) == (None, h.bob.id)
    answer(h.alice.get(task_url(h.home_by_bob)), 404, TASK_NOT_FOUND)
    assert visible(h.bob, "&list_id=none") == [h.bobs["id"], h.home_by_bob["id"]]


def test_deleting_a_list_deletes_its_tasks_for_everyone(households):
    h = households
    carol_views = h.carol
    add_member(h.alice, h.home, carol_views, "viewer")
    answer(h.alice.delete(list_url(h.home)), 204)
    for person in (h.alice, h.bob, carol_views):
        for task in (h.home_by_alice, h.home_by_bob):
            answer(person.get(task_url(task)), 404, TASK_NOT_FOUND)
        answer(person.get(list_url(h.home)), 404, LIST_NOT_FOUND)
    assert visible(h.alice) == [h.alices["id"]]
    assert visible(h.bob) == [h.bobs["id"], h.work_by_carol["id"]]


def test_a_former_members_tasks_stay_in_the_list(households):
    h = households
    remove_member(h.alice, h.home, h.bob)
    answer(h.bob.get(task_url(h.home_by_bob)), 404, TASK_NOT_FOUND)
    answer(h.bob.patch(task_url(h.home_by_bob), json={"list_id": None}), 404, TASK_NOT_FOUND)
    assert answer(h.alice.get(task_url(h.home_by_bob)), 200) == h.home_by_bob  # still bob's, still in Home
    assert visible(h.bob) == [h.bobs["id"], h.work_by_carol["id"]]


def test_a_list_holds_at_most_max_tasks_per_list(make_app):
    client = make_app(MAX_TASKS_PER_LIST="2").test_client()
    alice, bob = Person(client, "alice"), Person(client, "bob")
    shared = make_list(alice)
    add_member(alice, shared, bob, "editor")
    make_task(alice, into=shared)
    make_task(bob, into=shared)
    answer(bob.post(TASKS, json={"title": "third", "list_id": shared["id"]}), 409, TASK_LIMIT)
    private = make_task(alice, title="still fine in private")
    answer(alice.patch(task_url(private), json={"list_id": shared["id"]}), 409, TASK_LIMIT)
    assert len(visible(alice, f"&list_id={shared['id']}")) == 2
    assert answer(alice.get(task_url(private)), 200)["list_id"] is None


def test_max_tasks_per_user_counts_only_private_tasks(make_app):
    client = make_app(MAX_TASKS_PER_USER="1").test_client()
    alice, bob = Person(client, "alice"), Person(client, "bob")
    shared = make_list(alice)
    add_member(alice, shared, bob, "editor")
    make_task(alice, title="private")
    shared_task = make_task(alice, into=shared, title="shared")
    make_task(alice, into=shared, title="shared too")
    answer(alice.post(TASKS, json={"title": "a second private one"}), 409, TASK_LIMIT)
    # Made private, a shared task would be her second private one.
    answer(alice.patch(task_url(shared_task), json={"list_id": None}), 409, TASK_LIMIT)
    assert answer(alice.get(task_url(shared_task)), 200)["list_id"] == shared["id"]
    make_task(bob, title="bob's private")  # bob's count is his own


# --- versions across members --------------------------------------------------------------------


@pytest.mark.parametrize("method", ["put", "patch"])
def test_the_second_member_to_write_a_version_gets_412(households, method):
    h = households
    url = task_url(h.home_by_alice)
    alices_read, bobs_read = h.alice.get(url), h.bob.get(url)
    version = alices_read.headers["ETag"]
    assert bobs_read.headers["ETag"] == version
    assert answer(bobs_read, 200) == answer(alices_read, 200)

    bobs = getattr(h.bob, method)(url, json={"title": "bob's words"}, headers={"If-Match": version})
    answer(bobs, 200)
    assert bobs.headers["ETag"] != version
    alices = getattr(h.alice, method)(url, json={"title": "alice's words"}, headers={"If-Match": version})
    answer(alices, 412, TASK_CHANGED)
    assert answer(h.alice.get(url), 200)["title"] == "bob's words"  # bob's change is kept

    answer(h.alice.delete(url, headers={"If-Match": version}), 412, TASK_CHANGED)
    fresh = getattr(h.alice, method)(url, json={"title": "alice's words"}, headers={"If-Match": bobs.headers["ETag"]})
    assert answer(fresh, 200)["title"] == "alice's words"


def test_if_none_match_works_across_members(households):
    h = households
    url = task_url(h.home_by_alice)
    version = h.alice.get(url).headers["ETag"]
    assert h.bob.get(url, headers={"If-None-Match": version}).status_code == 304
    answer(h.alice.patch(url, json={"completed": False}), 200)
    changed = h.bob.get(url, headers={"If-None-Match": version})
    assert changed.status_code == 200 and changed.headers["ETag"] != version


# --- sync across people -------------------------------------------------------------------------


@pytest.fixture
def team_list(people):
    """bob owns Team, where alice edits and carol views; a task of bob's and one of alice's are in it.
    bob also owns Attic, where alice is not."""
    alice, bob, carol = people("alice", "bob", "carol")
    team, attic = make_list(bob, "Team"), make_list(bob, "Attic")
    add_member(bob, team, alice, "editor")
    add_member(bob, team, carol, "viewer")
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        carol=carol,
        team=team,
        attic=attic,
        bobs=make_task(bob, into=team, title="bob's"),
        alices=make_task(alice, into=team, title="alice's"),
        private=make_task(alice, title="alice's private"),
    )


def test_a_members_changes_come_in_my_next_sync(team_list):
    t = team_list
    phone = Device(t.alice)
    phone.sync()
    assert set(phone.tasks) == {t.bobs["id"], t.alices["id"], t.private["id"]}
    edited = answer(t.bob.patch(task_url(t.alices), json={"title": "bob rewrote it"}), 200)
    added = make_task(t.bob, into=t.team, title="new from bob")
    synced = phone.sync()
    assert set(synced.changed) == {t.alices["id"], added["id"]} and synced.deleted == []
    assert phone.tasks[t.alices["id"]] == edited
    assert phone.agrees_with_the_server()


def test_a_task_moved_into_my_list_comes_in_my_sync(team_list):
    t = team_list
    stored = make_task(t.bob, into=t.attic, title="from the attic")
    phone = Device(t.alice)
    phone.sync()
    assert stored["id"] not in phone.tasks
    answer(t.bob.patch(task_url(stored), json={"list_id": t.team["id"]}), 200)
    assert phone.sync().changed == [stored["id"]]
    assert phone.tasks[stored["id"]]["list_id"] == t.team["id"]
    assert phone.agrees_with_the_server()


def deleted_by_bob(t):
    answer(t.bob.delete(task_url(t.bobs)), 204)
    return {t.bobs["id"]}


def moved_where_alice_is_not(t):
    answer(t.bob.patch(task_url(t.bobs), json={"list_id": t.attic["id"]}), 200)
    return {t.bobs["id"]}


def list_deleted(t):
    answer(t.bob.delete(list_url(t.team)), 204)
    return {t.bobs["id"], t.alices["id"]}


def alice_removed(t):
    remove_member(t.bob, t.team, t.alice)
    return {t.bobs["id"], t.alices["id"]}


def alice_leaves(t):
    remove_member(t.alice, t.team, t.alice)
    return {t.bobs["id"], t.alices["id"]}


@pytest.mark.parametrize("limit", [1, 500])
@pytest.mark.parametrize("leave", [deleted_by_bob, moved_where_alice_is_not, list_deleted, alice_removed, alice_leaves])
def test_a_task_that_leaves_my_view_comes_as_deleted(team_list, leave, limit):
    t = team_list
    phone, bobs_phone = Device(t.alice, limit), Device(t.bob, limit)
    phone.sync()
    bobs_phone.sync()
    gone = leave(t)
    synced = phone.sync()
    assert set(synced.deleted) >= gone and not gone & set(synced.changed)
    assert not gone & set(phone.tasks) and t.private["id"] in phone.tasks
    assert phone.agrees_with_the_server()
    bobs_phone.sync()
    assert bobs_phone.agrees_with_the_server()

    # What happens to those tasks afterwards never comes to alice again.
    for task_id in gone:
        if t.bob.get(f"{TASKS}/{task_id}").status_code == 200:
            answer(t.bob.patch(f"{TASKS}/{task_id}", json={"title": "edited after"}), 200)
    if t.bob.get(list_url(t.team)).status_code == 200:
        make_task(t.bob, into=t.team, title="added after")
    synced = phone.sync()
    assert not gone & set(synced.changed)
    assert phone.agrees_with_the_server()
    bobs_phone.sync()
    assert bobs_phone.agrees_with_the_server()


@pytest.mark.parametrize("limit", [1, 500])
def test_a_member_added_again_gets_the_lists_tasks_again(team_list, limit):
    t = team_list
    phone = Device(t.alice, limit)
    phone.sync()
    remove_member(t.bob, t.team, t.alice)
    assert set(phone.sync().deleted) == {t.bobs["id"], t.alices["id"]}
    answer(t.bob.patch(task_url(t.bobs), json={"completed": True}), 200)  # changed while alice was out
    add_member(t.bob, t.team, t.alice, "viewer")
    synced = phone.sync()
    # Both come back: the one changed meanwhile, and the one untouched since she was removed.
    assert {t.bobs["id"], t.alices["id"]} <= set(synced.changed)
    assert phone.tasks[t.bobs["id"]]["completed"] is True
    assert phone.agrees_with_the_server()


def test_a_task_moved_out_and_back_between_syncs_is_only_changed(team_list):
    t = team_list
    phone = Device(t.alice)
    phone.sync()
    answer(t.bob.patch(task_url(t.bobs), json={"list_id": t.attic["id"]}), 200)
    answer(t.bob.patch(task_url(t.bobs), json={"list_id": t.team["id"], "title": "back"}), 200)
    answer(t.bob.patch(task_url(t.alices), json={"list_id": t.attic["id"]}), 200)
    short_lived = make_task(t.bob, into=t.team, title="short-lived")
    answer(t.bob.delete(task_url(short_lived)), 204)
    synced = phone.sync()  # Device.sync checks that no page has an id both changed and deleted
    assert t.bobs["id"] in synced.changed and t.bobs["id"] not in synced.deleted
    assert t.alices["id"] in synced.deleted and t.alices["id"] not in synced.changed
    assert short_lived["id"] not in synced.changed
    assert phone.tasks[t.bobs["id"]]["title"] == "back"
    assert phone.agrees_with_the_server()


def test_a_private_task_made_shared_and_back_syncs_to_the_others(team_list):
    t = team_list
    bobs_phone = Device(t.bob)
    bobs_phone.sync()
    answer(t.alice.patch(task_url(t.private), json={"list_id": t.team["id"]}), 200)
    assert bobs_phone.sync().changed == [t.private["id"]]
    answer(t.alice.patch(task_url(t.private), json={"list_id": None}), 200)
    assert bobs_phone.sync().deleted == [t.private["id"]]
    assert bobs_phone.agrees_with_the_server()


@pytest.mark.parametrize("limit", [1, 2, 500])
def test_every_device_ends_up_showing_what_the_server_shows(people, limit):
    """Three people share lists and change them in every way; after each step each person's device,
    synced, holds exactly what GET /tasks shows them. Devices that sync only at the end agree too."""
    alice, bob, carol = people("alice", "bob", "carol")
    everyone = (alice, bob, carol)
    phones = [Device(person, limit) for person in everyone]
    laptops = [Device(person, limit) for person in everyone]
    for device in (*phones, *laptops):
        device.sync()
    made = {}  # what the steps made, by name

    def step_1():
        made["private"] = make_task(alice, title="private")
        made["home"] = make_list(alice, "Home")
        add_member(alice, made["home"], bob, "editor")
        add_member(alice, made["home"], carol, "viewer")

    def step_2():
        made["by_alice"] = make_task(alice, into=made["home"], title="by alice")
        made["by_bob"] = make_task(bob, into=made["home"], title="by bob")

    def step_3():
        answer(bob.patch(task_url(made["by_alice"]), json={"completed": True}), 200)
        answer(alice.patch(task_url(made["private"]), json={"list_id": made["home"]["id"]}), 200)

    def step_4():
        made["work"] = make_list(bob, "Work")
        make_task(bob, into=made["work"], title="work")
        answer(bob.patch(task_url(made["by_alice"]), json={"list_id": made["work"]["id"]}), 200)

    def step_5():
        answer(bob.patch(task_url(made["by_alice"]), json={"list_id": made["home"]["id"]}), 200)
        remove_member(alice, made["home"], carol)
        answer(bob.put(task_url(made["by_bob"]), json={"title": "while carol was out"}), 200)

    def step_6():
        add_member(alice, made["home"], carol, "viewer")
        answer(bob.patch(task_url(made["by_bob"]), json={"list_id": None}), 200)

    def step_7():
        remove_member(carol, made["home"], carol)
        answer(alice.delete(task_url(made["private"])), 204)
        add_member(bob, made["work"], alice, "viewer")

    def step_8():
        answer(alice.delete(list_url(made["home"])), 204)
        answer(bob.delete(list_url(made["work"])), 204)

    for step in (step_1, step_2, step_3, step_4, step_5, step_6, step_7, step_8):
        step()
        for phone in phones:
            phone.sync()
            assert phone.agrees_with_the_server(), (step.__name__, phone.person)
    for laptop in laptops:
        laptop.sync()
        assert laptop.agrees_with_the_server(), laptop.person


def test_a_sync_cursor_from_before_lists_still_works(app, team_list):
    t = team_list
    with app.app_context():  # what the release before lists handed out: [user id, change number, full sync?]
        before_lists = sign("sync", [t.alice.id, 0, False])
    page = answer(t.alice.get(CHANGES, query_string={"since": before_lists}), 200)
    assert set(page) == {"changes", "deleted", "next_cursor", "has_more"}
    phone = Device(t.alice)
    phone.cursor = before_lists
    phone.sync()
    assert phone.agrees_with_the_server()
    assert set(phone.tasks) == {t.bobs["id"], t.alices["id"], t.private["id"]}


@pytest.mark.parametrize("method, body", [("patch", {"title": "x"}), ("patch", {"list_id": None}), ("delete", None)])
def test_a_member_removed_while_writing_a_lists_task_gets_task_not_found(app, people, monkeypatch, method, body):
    """The task was read in the list, then its writer was found gone from it: the task is what is not found
    (as it now is for them), not a list they never named."""
    from sqlalchemy import update

    from app.extensions import db
    from app.models import list_members
    from app.tasks import store

    alice, bob = people("alice", "bob")
    shared = make_list(alice, "Ours")
    add_member(alice, shared, bob, "editor")
    task = make_task(bob, into=shared)
    read_space = store._space_of

    def removed_meanwhile(user, task_id):
        found = read_space(user, task_id)
        db.session.execute(update(list_members).where(list_members.c.user_id == bob.id).values(left_seq=0))
        return found

    monkeypatch.setattr(store, "_space_of", removed_meanwhile)
    response = getattr(bob, method)(task_url(task), json=body)
    monkeypatch.undo()
    answer(response, 404, {"detail": "Task not found"})
    assert answer(alice.get(task_url(task)), 200) == task  # nothing written, the removal rolled back with it


def test_removing_members_and_deleting_lists_have_a_budget_of_their_own(make_app):
    """Each writes a departure per task of the list: RATELIMIT_LIST_ENDINGS holds churn back, other writes go on."""
    client = make_app(
        RATELIMIT_ENABLED="true", RATELIMIT_LIST_ENDINGS="2/hour", RATELIMIT_STORAGE_URI="memory://"
    ).test_client()
    try:
        alice, bob = Person(client, "alice"), Person(client, "bob")
        shared = make_list(alice)
        for _ in range(2):
            add_member(alice, shared, bob, "editor")
            remove_member(alice, shared, bob)
        add_member(alice, shared, bob, "editor")
        answer(alice.delete(member_url(shared, bob)), 429)
        answer(alice.delete(list_url(shared)), 429)
        answer(bob.delete(member_url(shared, bob)), 204)  # bob's own budget: he may leave
        make_task(alice, into=shared)  # and the task writes go on
    finally:
        make_app()  # the limiter is one object, set up by the last app made: one without limits, as the suite's


def test_a_task_moved_by_another_member_between_read_and_write_is_409_and_stays_moved(people, monkeypatch):
    """bob read the task in one list; by the time he holds that list, alice has moved it to another one
    he is in: a 409 that says so, not a 412 about a version he did not ask for."""
    from sqlalchemy import update

    from app.extensions import db
    from app.models import tasks
    from app.tasks import store

    alice, bob = people("alice", "bob")
    here, there = make_list(alice, "Here"), make_list(alice, "There")
    add_member(alice, here, bob, "editor")
    add_member(alice, there, bob, "editor")
    task = make_task(alice, into=here)
    read_space = store._space_of

    def moved_meanwhile(user, task_id):
        found = read_space(user, task_id)
        db.session.execute(update(tasks).where(tasks.c.id == task_id).values(list_id=there["id"]))
        return found

    monkeypatch.setattr(store, "_space_of", moved_meanwhile)
    response = bob.patch(task_url(task), json={"title": "bob's edit"})
    monkeypatch.undo()
    answer(response, 409, {"detail": "Task was moved to another list meanwhile; read it again"})
    assert answer(alice.get(task_url(task)), 200) == task  # (the move here was part of bob's request, undone)
