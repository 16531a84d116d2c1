"""Shared lists under load (issue 20): every device ends with exactly what its person can see.

Against gunicorn on PostgreSQL, two people and three devices write at once: alice (a phone and a
laptop, two logins) and bob (a phone) create, change, move and delete their private tasks and the
tasks of a list alice shares with bob, and alice's own second list; every device syncs as it goes.
Halfway, alice removes bob from the shared list. Once the writers stop and each device has caught
up, its copy must equal its person's GET /tasks: nothing missed, nothing resurrected, nothing foreign.
"""

import random
import re
import threading
import time
import traceback
from collections import Counter
from urllib.parse import urlencode

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import together
from tests.http import call

LOAD_SECONDS = 4  # each device writes and syncs this long
REMOVAL_AT = 2  # seconds into the load, alice removes bob from the shared list
PAGE = 7  # a small sync page, so that every sync pages
MAX_PAGES = 2000  # a catch-up that has not ended by then never will

TASK_GONE = (404, {"detail": "Task not found"})
LIST_GONE = (404, {"detail": "List not found"})
MOVED = (409, {"detail": "Task was moved to another list meanwhile; read it again"})
NOT_CREATOR = (403, {"detail": "Only the task's creator can make it private"})
NEXT = re.compile(r'<([^>]+)>;\s*rel="next"')


def summary(task):
    if task is None:
        return "absent"
    return (
        f"list={task['list_id']} owner={task['owner_id']} title={task['title']!r} "
        f"completed={task['completed']} updated_at={task['updated_at']}"
    )


class Removal:
    """Bob's removal from the shared list: asked, then answered (events), and when (seconds into the load)."""

    def __init__(self):
        self.asked, self.answered = threading.Event(), threading.Event()
        self.start = self.end = self.answer = None


class Device:
    """One login: writes through the API and keeps a local copy of its person's tasks by syncing.

    ``lists`` are where the device puts tasks: None (private) and the list ids it may write to.
    ``history`` (shared by the devices) keeps (start, end, device, task id, what happened).
    """

    def __init__(self, base, name, person, login, shared, lists, removal, history, gone):
        self.base, self.name, self.person = base, name, person
        self.token, self.user_id = login
        self.shared, self.lists = shared, lists
        self.removal = removal  # bob's from the shared list: .asked, then .answered (threading.Event)
        self.history, self.gone = history, gone  # gone: ids some device deleted (204)
        self.local, self.cursor = {}, None
        self.mine = []  # ids this device created and has not seen go away
        self.placed = {}  # id -> list_id, as this device last learned it (write answers, syncs: in its order)
        self.counts = Counter()
        self.foreign_seen = set()  # ids of the other person's tasks this device held
        self.most_shared_held = 0  # the most shared-list tasks held at once
        self.rng = random.Random(name)
        self.failure = self.failed_task = None

    def note(self, start, task_id, text):
        self.history.append((start, time.monotonic(), self.name, task_id, text))

    # --- writing ---------------------------------------------------------------------------

    def write(self, method, path, body, ok, tolerated=()):
        """Send a write: (status, body). Only ``ok`` or a tolerated (status, body); anything else fails the device."""
        late = self.removal.answered.is_set()  # started after bob's removal was answered
        start = time.monotonic()
        status, answer, _ = call(self.base, method, path, body, self.token)
        task_id = (answer or {}).get("id") if path == "/tasks" else int(path.rsplit("/", 1)[1])
        told = summary(answer) if answer and "id" in answer else answer
        self.note(start, task_id, f"{method} {body} -> {status} {told}")
        if status != ok and (status, answer) not in tolerated:
            self.failed_task = task_id
            raise AssertionError(f"{self.name}: {method} {path} {body} -> {status} {answer} (late: {late})")
        self.counts[f"{method} {status}"] += 1
        if self.person == "bob" and late:  # a former member sees nothing of the list, and writes nothing to it
            if self.placed.get(task_id) == self.shared or (body or {}).get("list_id") == self.shared:
                assert status == 404, f"bob, removed: {method} {path} {body} -> {status} {answer}"
            if status == 404:
                self.counts["refused after removal"] += 1
        if status == ok and answer:
            if self.placed.get(answer["id"], answer["list_id"]) != answer["list_id"]:
                self.counts["moves"] += 1  # (as far as this device knew where the task was)
            self.placed[answer["id"]] = answer["list_id"]
        return status, answer

    def create(self, i):
        list_id = self.lists[i % len(self.lists)]
        tolerated = [LIST_GONE] if self.person == "bob" and list_id == self.shared else []
        status, task = self.write("POST", "/tasks", {"title": f"{self.name} {i}", "list_id": list_id}, 201, tolerated)
        if status == 201:
            self.mine.append(task["id"])
            if list_id == self.shared:
                self.counts["created in the shared list"] += 1

    def update_own(self, i):
        """Change one of this device's tasks; every third time also move it (the creator may make it private)."""
        task_id = self.rng.choice(self.mine)
        body = {"title": f"{self.name} {i}", "completed": self.rng.random() < 0.5}
        if i % 3 == 0:
            body["list_id"] = self.rng.choice(self.lists)
        tolerated = [TASK_GONE, MOVED]
        if self.person == "bob" and body.get("list_id") == self.shared:
            tolerated.append(LIST_GONE)
        status, answer = self.write("PATCH", f"/tasks/{task_id}", body, 200, tolerated)
        if (status, answer) == TASK_GONE:
            self.mine.remove(task_id)  # out of this person's sight: deleted, or moved where they are not

    def delete_own(self):
        task_id = self.mine.pop(0)
        if self.write("DELETE", f"/tasks/{task_id}", None, 204, [TASK_GONE, MOVED])[0] == 204:
            self.gone.add(task_id)

    def touch_another(self, i):
        """Write to a task held locally that another device created: alice's other device's, or the other person's."""
        others = [t for t in self.local.values() if t["id"] not in self.mine]
        if self.person == "bob":  # (his own tasks gone out of his sight, left until the next sync, are not others')
            others = [t for t in others if t["owner_id"] != self.user_id]
        if not others:
            return
        task = self.rng.choice(others)
        path, roll = f"/tasks/{task['id']}", self.rng.random()
        if roll < 0.2:
            if self.write("DELETE", path, None, 204, [TASK_GONE, MOVED])[0] == 204:
                self.gone.add(task["id"])
        elif roll < 0.5 and self.person == "alice":  # a move: to private only her own
            targets = [t for t in self.lists if t is not None or task["owner_id"] == self.user_id]
            self.write("PATCH", path, {"list_id": self.rng.choice(targets)}, 200, [TASK_GONE, MOVED])
        elif roll < 0.5:  # bob may not make alice's task private
            self.write("PATCH", path, {"list_id": None}, None, [NOT_CREATOR, TASK_GONE, MOVED])
        else:
            body = {"title": f"{self.name} edit {i}", "completed": not task["completed"]}
            self.write("PATCH", path, body, 200, [TASK_GONE, MOVED])

    # --- syncing ---------------------------------------------------------------------------

    def sync(self, max_pages=MAX_PAGES):
        """Follow the cursor until has_more is false (True), or for ``max_pages`` pages (False)."""
        for _ in range(max_pages):
            query = {"limit": PAGE, **({"since": self.cursor} if self.cursor else {})}
            start = time.monotonic()
            status, page, _ = call(self.base, "GET", f"/tasks/changes?{urlencode(query)}", token=self.token)
            assert status == 200, f"{self.name}: sync -> {status} {page}"
            changed = {task["id"] for task in page["changes"]}
            assert not changed & set(page["deleted"]), f"{self.name}: ids both changed and deleted in a page: {page}"
            for task in page["changes"]:
                self.note(start, task["id"], f"sync: changed {summary(task)}")
                self.local[task["id"]] = task
                self.placed[task["id"]] = task["list_id"]
                if task["owner_id"] != self.user_id:  # the other person's (alice's two devices are one user)
                    self.foreign_seen.add(task["id"])
            for task_id in page["deleted"]:
                self.note(start, task_id, "sync: deleted")
                self.local.pop(task_id, None)
            self.cursor = page["next_cursor"]
            self.counts["sync pages"] += 1
            held = sum(1 for task in self.local.values() if task["list_id"] == self.shared)
            self.most_shared_held = max(self.most_shared_held, held)
            if not page["has_more"]:
                return True
        return False

    # --- the load ----------------------------------------------------------------------------

    def run(self, seconds):
        """Write and sync for ``seconds``; a failure is kept (``failure``) for the test to report."""
        deadline = time.monotonic() + seconds
        i = 0
        try:
            while time.monotonic() < deadline:
                self.create(i)
                if self.mine:
                    self.update_own(i)
                if i % 3 == 2 and self.mine:
                    self.delete_own()
                if i % 2 == 1:
                    self.touch_another(i)
                self.sync(max_pages=2)
                i += 1
        except Exception:
            self.failure = traceback.format_exc()


def sign_up(base, username):
    account = {"username": username, "email": f"{username}@example.com", "password": f"{username} password"}
    assert call(base, "POST", "/auth/signup", account)[0] == 201


def log_in(base, username):
    """A new session of the user: (token, user id)."""
    status, body, _ = call(
        base, "POST", "/auth/login", {"email": f"{username}@example.com", "password": f"{username} password"}
    )
    assert status == 200, body
    token = body["access_token"]
    return token, call(base, "GET", "/users/me", token=token)[1]["id"]


def everything(base, token):
    """Every task GET /tasks answers, by id, following Link's next."""
    tasks, path, prefix = {}, "/tasks?limit=100", "/api/v1"
    for _ in range(MAX_PAGES):
        status, page, headers = call(base, "GET", path, token=token, prefix=prefix)
        assert status == 200, page
        for task in page:
            assert task["id"] not in tasks, f"task {task['id']} on two pages"
            tasks[task["id"]] = task
        following = NEXT.search(headers.get("Link", ""))
        if not following:
            return tasks
        path, prefix = following.group(1), ""
    raise AssertionError("GET /tasks never ended")


def overlapping_writes(history):
    """How many writes started while another device's write was in flight."""
    ends, count = {}, 0
    for start, end, who, _, text in sorted(history, key=lambda event: event[0]):
        if text.startswith("sync"):
            continue
        count += any(other != who and last > start for other, last in ends.items())
        ends[who] = max(end, ends.get(who, end))
    return count


def explain(device, expected, history, servers):
    """Which ids differ between a device and its person's server view, and what happened to each."""
    missing = sorted(expected.keys() - device.local.keys())
    extra = sorted(device.local.keys() - expected.keys())
    stale = sorted(i for i in expected.keys() & device.local.keys() if expected[i] != device.local[i])
    lines = [f"{device.name} ({device.person}): missing {missing}, extra {extra}, stale {stale}"]
    for task_id in (missing + extra + stale)[:12]:
        lines.append(f"  task {task_id}: server {summary(expected.get(task_id))}")
        lines.append(f"  {' ' * len(str(task_id))}       device {summary(device.local.get(task_id))}")
        for person, view in servers.items():
            if task_id in view:
                lines.append(f"       (visible to {person}: {summary(view[task_id])})")
        lines.append(story(history, task_id))
    return "\n".join(lines)


def story(history, task_id):
    """What the devices did to a task and learned of it, in time order (seconds since the load began)."""
    events = sorted((event for event in history if event[3] == task_id), key=lambda event: event[0])
    return "\n".join(f"    {start:8.3f}-{end:8.3f} {who}: {text}" for start, end, who, _, text in events)


def test_devices_of_two_people_sharing_a_list_end_with_exactly_what_each_can_see(serve, database_url):
    if make_url(database_url).get_backend_name() != "postgresql":
        pytest.skip("many writers at once against gunicorn: PostgreSQL")
    base = serve(workers=2)
    sign_up(base, "alice")
    sign_up(base, "bob")
    alice_token, alice_id = log_in(base, "alice")
    status, shared, _ = call(base, "POST", "/lists", {"name": "Groceries"}, alice_token)
    assert status == 201, shared
    status, own, _ = call(base, "POST", "/lists", {"name": "Alice only"}, alice_token)
    assert status == 201, own
    status, member, _ = call(
        base, "POST", f"/lists/{shared['id']}/members", {"username": "bob", "role": "editor"}, alice_token
    )
    assert status == 201, member

    removal, history, gone = Removal(), [], set()
    t0 = time.monotonic()

    def device(name, person, lists):
        return Device(base, name, person, log_in(base, person), shared["id"], lists, removal, history, gone)

    alice_lists, bob_lists = [None, shared["id"], own["id"]], [None, shared["id"]]
    devices = [
        device("alice-phone", "alice", alice_lists),
        device("alice-laptop", "alice", alice_lists),
        device("bob-phone", "bob", bob_lists),
    ]

    def remove_bob():
        time.sleep(REMOVAL_AT)
        removal.start = time.monotonic() - t0
        removal.asked.set()
        removal.answer = call(base, "DELETE", f"/lists/{shared['id']}/members/{member['user_id']}", token=alice_token)
        removal.end = time.monotonic() - t0
        removal.answered.set()

    together(len(devices) + 1, lambda n: devices[n].run(LOAD_SECONDS) if n < len(devices) else remove_bob())
    history[:] = [(start - t0, end - t0, *rest) for start, end, *rest in history]

    assert removal.answer and removal.answer[:2] == (204, None), removal.answer
    when = f"bob removed at {removal.start:.3f}-{removal.end:.3f}"
    failures = [f"{d.name} failed:\n{d.failure}{story(history, d.failed_task)}" for d in devices if d.failure]
    assert not failures, "\n".join([when, *failures])
    for d in devices:  # catch up, now that nobody writes
        assert d.sync(), f"{d.name} never caught up"

    tokens = {"alice": alice_token, "bob": devices[2].token}
    servers = {person: everything(base, token) for person, token in tokens.items()}
    differing = [explain(d, servers[d.person], history, servers) for d in devices if d.local != servers[d.person]]
    assert not differing, "\n".join([when, *differing])

    # Nothing foreign: alice sees her private tasks and both lists; bob only his private tasks now.
    lists = {shared["id"], own["id"]}
    assert all(t["list_id"] in lists or t["owner_id"] == alice_id for t in servers["alice"].values())
    assert all(t["list_id"] is None and t["owner_id"] == member["user_id"] for t in servers["bob"].values())
    bob = devices[2]
    assert [t for t in bob.local.values() if t["list_id"] == shared["id"]] == []
    assert call(base, "GET", f"/lists/{shared['id']}", token=bob.token)[0] == 404
    assert shared["id"] not in [lst["id"] for lst in call(base, "GET", "/lists", token=bob.token)[1]]
    # Nothing resurrected: a task deleted is on no device and in no one's view.
    for holder, tasks in [(d.name, d.local) for d in devices] + list(servers.items()):
        assert not gone & tasks.keys(), f"{holder} holds deleted tasks {sorted(gone & tasks.keys())}"

    # The load did what it is for: concurrent writes on every device, bob in the list before his removal.
    for d in devices:
        assert d.counts["POST 201"] >= 20 and d.counts["PATCH 200"] >= 20, (d.name, d.counts)
        assert d.counts["sync pages"] >= 10, (d.name, d.counts)
    assert sum(d.counts["DELETE 204"] for d in devices) >= 10
    assert overlapping_writes(history) >= 50, "the devices' writes hardly overlapped"
    assert bob.counts["created in the shared list"] >= 2, bob.counts
    assert bob.most_shared_held >= 2, "bob's device never held the shared list's tasks"
    assert bob.foreign_seen, "bob's device never held a task of alice's"
    assert devices[0].foreign_seen | devices[1].foreign_seen, "alice's devices never held a task of bob's"
    assert bob.counts["refused after removal"] >= 1, bob.counts
    assert all(d.counts["moves"] >= 1 for d in devices) and sum(d.counts["moves"] for d in devices) >= 10
    assert any(t["list_id"] == own["id"] for t in servers["alice"].values())
    assert servers["alice"] and servers["bob"]
