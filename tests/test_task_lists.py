"""GET /api/v1/tasks: paging, filters, sorting, and the headers that go with them."""

import re

import pytest
from marshmallow import Schema

from app.extensions import db
from app.models import Task
from app.schemas import TaskSchema

TASKS = "/api/v1/tasks"


def create(client, headers, **body):
    response = client.post(TASKS, json={"title": "Task", **body}, headers=headers)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def titles(response):
    assert response.status_code == 200, response.get_json()
    return [task["title"] for task in response.get_json()]


def links(response):
    """{rel: target} from the Link header."""
    return {rel: target for target, rel in re.findall(r'<([^>]*)>; rel="(\w+)"', response.headers["Link"])}


def offsets(response):
    """{rel: offset} of the links that page by offset."""
    return {
        rel: int(re.search(r"[?&]offset=(\d+)", target).group(1))
        for rel, target in links(response).items()
        if "offset=" in target
    }


def follow(client, headers, path):
    """Every page from ``path`` on, following Link's next: the titles of each page."""
    pages = []
    while path:
        response = client.get(path, headers=headers)
        pages.append(titles(response))
        path = links(response).get("next")
    return pages


def walk(client, headers, path):
    """Every page from ``path`` on, following Link's next: the ids, in the order sent."""
    walked = []
    while path:
        response = client.get(path, headers=headers)
        assert response.status_code == 200, response.get_json()
        walked += [task["id"] for task in response.get_json()]
        path = links(response).get("next")
    return walked


@pytest.fixture
def seven(client, alice):
    return [create(client, alice, title=f"t{n}") for n in range(7)]


def test_default_is_every_task_by_id_without_a_count(client, alice, seven):
    response = client.get(TASKS, headers=alice)
    assert titles(response) == [f"t{n}" for n in range(7)]
    assert "X-Total-Count" not in response.headers
    assert links(response) == {"first": "/api/v1/tasks"}


def test_next_pages_by_cursor_to_the_end(client, alice, seven):
    assert follow(client, alice, f"{TASKS}?limit=3") == [["t0", "t1", "t2"], ["t3", "t4", "t5"], ["t6"]]
    first = client.get(f"{TASKS}?limit=3", headers=alice)
    assert set(links(first)) == {"first", "next"}
    assert re.fullmatch(r"/api/v1/tasks\?limit=3&cursor=[\w.-]+", links(first)["next"])
    # A full last page has no next either: one task more is read to know.
    assert follow(client, alice, f"{TASKS}?limit=7") == [[f"t{n}" for n in range(7)]]


def test_a_cursor_keeps_its_place_when_tasks_change_before_it(client, alice, seven):
    second = links(client.get(f"{TASKS}?limit=3", headers=alice))["next"]
    assert client.delete(f"{TASKS}/{seven[1]['id']}", headers=alice).status_code == 204
    assert client.delete(f"{TASKS}/{seven[2]['id']}", headers=alice).status_code == 204  # the cursor's own task
    assert titles(client.get(second, headers=alice)) == ["t3", "t4", "t5"]  # an offset would skip two


def test_count_on_request_with_the_last_page(client, alice, seven):
    response = client.get(f"{TASKS}?limit=3&count=true", headers=alice)
    assert response.headers["X-Total-Count"] == "7"
    assert offsets(response) == {"last": 6}
    assert "count=true" in links(response)["next"]  # the client asked for it on every page
    filtered = client.get(f"{TASKS}?q=t6&count=true", headers=alice)
    assert filtered.headers["X-Total-Count"] == "1"


def test_offsets_still_page_with_prev(client, alice, seven):
    middle = client.get(f"{TASKS}?limit=3&offset=3", headers=alice)
    assert titles(middle) == ["t3", "t4", "t5"]
    assert offsets(middle) == {"prev": 0}
    assert titles(client.get(links(middle)["next"], headers=alice)) == ["t6"]
    last = client.get(f"{TASKS}?limit=3&offset=6&count=true", headers=alice)
    assert titles(last) == ["t6"] and offsets(last) == {"prev": 3, "last": 6} and "next" not in links(last)


def test_past_the_end_is_empty(client, alice, seven):
    response = client.get(f"{TASKS}?limit=3&offset=50", headers=alice)
    assert titles(response) == []
    assert offsets(response) == {"prev": 47}
    counted = client.get(f"{TASKS}?limit=3&offset=50&count=true", headers=alice)
    assert counted.headers["X-Total-Count"] == "7"
    assert offsets(counted)["prev"] == 6  # back to the last page


def test_links_keep_the_filters(client, alice, seven):
    response = client.get(f"{TASKS}?limit=2&q=t&sort=-title", headers=alice)
    next_link = links(response)["next"]
    assert next_link.startswith("/api/v1/tasks?")
    assert "q=t" in next_link and "sort=-title" in next_link
    assert titles(client.get(next_link, headers=alice)) == ["t4", "t3"]


def test_filter_by_completed(client, alice):
    done = create(client, alice, title="done", completed=True)
    create(client, alice, title="open")
    assert titles(client.get(f"{TASKS}?completed=true", headers=alice)) == ["done"]
    assert titles(client.get(f"{TASKS}?completed=false", headers=alice)) == ["open"]
    assert client.get(f"{TASKS}?completed=true&count=true", headers=alice).headers["X-Total-Count"] == "1"
    assert done["completed_at"] is not None


def test_filter_by_due_date_is_half_open(client, alice):
    for day in (1, 2, 3):
        create(client, alice, title=f"day {day}", due_date=f"2027-01-0{day}T12:00:00Z")
    create(client, alice, title="no due date")
    window = "due_after=2027-01-02T12:00:00Z&due_before=2027-01-03T12:00:00Z"
    assert titles(client.get(f"{TASKS}?{window}", headers=alice)) == ["day 2"]
    assert titles(client.get(f"{TASKS}?due_before=2027-01-02T00:00:00Z", headers=alice)) == ["day 1"]
    # An offset, URL-encoded: 13:00+01:00 is 12:00 UTC.
    after = "due_after=2027-01-03T13:00:00%2B01:00"
    assert titles(client.get(f"{TASKS}?{after}", headers=alice)) == ["day 3"]


def test_search_in_title_and_description_any_case(client, alice):
    create(client, alice, title="Äpfel kaufen")
    create(client, alice, title="Ωmega")
    assert titles(client.get(f"{TASKS}?q=äpfel", headers=alice)) == ["Äpfel kaufen"]
    assert titles(client.get(f"{TASKS}?q=ω", headers=alice)) == ["Ωmega"]
    create(client, alice, title="Buy MILK")
    create(client, alice, title="Call mum", description="about the milk")
    create(client, alice, title="Other")
    create(client, alice, title="100% sure", description="a_b")
    assert titles(client.get(f"{TASKS}?q=milk", headers=alice)) == ["Buy MILK", "Call mum"]
    assert titles(client.get(f"{TASKS}?q=%C3%84PFEL", headers=alice)) == ["Äpfel kaufen"]
    # LIKE wildcards are searched for literally.
    assert titles(client.get(f"{TASKS}?q=%25", headers=alice)) == ["100% sure"]
    assert titles(client.get(f"{TASKS}?q=_", headers=alice)) == ["100% sure"]


def test_sort_by_several_keys_with_a_stable_order(client, alice):
    create(client, alice, title="b", due_date="2027-01-02T00:00:00Z")
    create(client, alice, title="a", due_date="2027-01-02T00:00:00Z")
    create(client, alice, title="c")
    create(client, alice, title="d", due_date="2027-01-01T00:00:00Z")
    assert titles(client.get(f"{TASKS}?sort=title", headers=alice)) == ["a", "b", "c", "d"]
    assert titles(client.get(f"{TASKS}?sort=-title", headers=alice)) == ["d", "c", "b", "a"]
    # Missing due dates last in both directions; equal due dates by id.
    assert titles(client.get(f"{TASKS}?sort=due_date", headers=alice)) == ["d", "b", "a", "c"]
    assert titles(client.get(f"{TASKS}?sort=-due_date", headers=alice)) == ["b", "a", "d", "c"]
    assert titles(client.get(f"{TASKS}?sort=-due_date,title", headers=alice)) == ["a", "b", "d", "c"]
    assert titles(client.get(f"{TASKS}?sort=-id", headers=alice)) == ["d", "c", "a", "b"]
    assert titles(client.get(f"{TASKS}?sort=-created_at", headers=alice)) == ["d", "c", "a", "b"]


def test_only_own_tasks_are_counted(client, alice, bob):
    create(client, alice)
    create(client, bob)
    response = client.get(f"{TASKS}?count=true", headers=bob)
    assert len(response.get_json()) == 1 and response.headers["X-Total-Count"] == "1"


@pytest.mark.parametrize(
    "query, field",
    [
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=ten", "limit"),
        ("limit=1.5", "limit"),
        ("offset=-1", "offset"),
        ("offset=99999999999999999999", "offset"),
        ("completed=yes", "completed"),
        ("completed=1", "completed"),
        ("due_before=tomorrow", "due_before"),
        ("due_after=2027-01-01T00:00:00+01:00", "due_after"),  # an unencoded '+' arrives as a space
        ("q=", "q"),
        ("q=%00", "q"),
        ("sort=owner_id", "sort"),
        ("sort=title,-title", "sort"),
        ("sort=", "sort"),
        ("sort=--id", "sort"),
        ("limit=%D9%A3", "limit"),  # an Arabic-Indic digit
        ("limit=%20100", "limit"),
        ("limit=%2B5", "limit"),
        ("complete=true", "complete"),  # unknown: a typo must not return everything
        ("limit=5&limit=2", "limit"),
        ("completed=true&completed=false", "completed"),
        ("cursor=abc&offset=3", "cursor"),  # two starts: which one? (offset=0, the default, is no start)
        ("cursor=%00", "cursor"),
        ("cursor=" + "a" * 2001, "cursor"),
        ("count=yes", "count"),
    ],
)
def test_bad_query_values_are_422(client, alice, query, field):
    response = client.get(f"{TASKS}?{query}", headers=alice)
    assert response.status_code == 422
    assert response.get_json()["detail"] == "Validation error"
    assert list(response.get_json()["errors"]) == [field]


SORTS = [
    "id",
    "-id",
    "title",
    "-title",
    "due_date",
    "-due_date",
    "due_date,-title",
    "-due_date,title",
    "title,due_date",
    "-title,-due_date",
    "created_at",
    "-updated_at,title",
    "title,-id",
]


@pytest.fixture
def assorted(client, alice):
    """Tasks with equal titles, equal due dates and missing ones: every kind of tie a cursor must get past."""
    made = []
    for n, (title, due) in enumerate(
        [
            ("b", 2),
            ("a", None),
            ("b", 1),
            ("c", 2),
            ("a", 1),
            ("b", None),
            ("c", None),
            ("a", 2),
            ("b", 2),
            ("d", 3),
            ("a", None),
            ("c", 1),
        ]
    ):
        due_date = None if due is None else f"2027-01-0{due}T12:00:00Z"
        made.append(create(client, alice, title=title, due_date=due_date, completed=n % 3 == 0))
    return made


def expected_order(tasks, sort):
    """The contract's order, computed here: keys in turn, missing due dates last either way, ties by id."""

    def key(task):
        parts = []
        for name in sort.split(","):
            value = task[name.lstrip("-")]
            missing = value is None
            if isinstance(value, str):
                value = [-ord(c) for c in value] + [1] if name.startswith("-") else [ord(c) for c in value]
            elif isinstance(value, int) and name.startswith("-"):
                value = -value
            parts.append((missing, None if missing else value))
        return parts + [task["id"] if "id" not in sort.replace("-", "").split(",") else 0]

    # Datetimes as ISO strings in UTC order as the instants do.
    return [task["id"] for task in sorted(tasks, key=key)]


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("query", ["", "&completed=false", "&q=b"])
def test_following_next_visits_every_task_once_in_the_sorted_order(client, alice, assorted, sort, query):
    tasks = [
        t
        for t in client.get(f"{TASKS}?limit=1000", headers=alice).get_json()
        if ("completed=false" not in query or not t["completed"]) and ("q=b" not in query or t["title"] == "b")
    ]
    walked = walk(client, alice, f"{TASKS}?limit=2&sort={sort}{query}")
    one_page = [task["id"] for task in client.get(f"{TASKS}?limit=1000&sort={sort}{query}", headers=alice).get_json()]
    assert walked == one_page == expected_order(tasks, sort)


def test_a_cursor_is_the_users_and_its_sorts(app, client, alice, bob, seven):
    cursor = re.search(r"cursor=([\w.-]+)", links(client.get(f"{TASKS}?limit=2", headers=alice))["next"]).group(1)
    # As Swagger UI sends it: the documented default offset along.
    assert titles(client.get(f"{TASKS}?limit=2&cursor={cursor}&offset=0", headers=alice)) == ["t2", "t3"]
    invalid = {"detail": "Invalid cursor: follow the Link header's next with the same sort"}
    for who, query in [(bob, ""), (alice, "&sort=title"), (alice, "&sort=-id")]:
        response = client.get(f"{TASKS}?cursor={cursor}{query}", headers=who)
        assert (response.status_code, response.get_json()) == (422, invalid)
    altered = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert client.get(f"{TASKS}?cursor={altered}", headers=alice).status_code == 422
    # Signed with the app's key but of another shape (a release that wrote other cursors): 422, not 500.
    from app.tasks.cursors import sign

    me = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    with app.app_context():
        odd = [
            sign("list", payload)
            for payload in (
                [me, "id", ["1"]],
                [me, "id", [True]],
                [me, "id", [2**40]],
                [me, "id"],
                "x",
                [me, "due_date,id", [5, 1]],
                [me, "due_date,id", ["2027-01-01T00:00:00", 1]],
                [me, "title,id", [None, 1]],
                [me, "id", [1, 2]],
            )
        ]
    for cursor, sort in zip(odd, ["id", "id", "id", "id", "id", "due_date", "due_date", "title", "id"], strict=True):
        response = client.get(f"{TASKS}?cursor={cursor}&sort={sort}", headers=alice)
        assert (response.status_code, response.get_json()) == (422, invalid), cursor


def test_creates_updates_reads_pages_and_the_sync_send_tasks_exactly_as_marshmallow_dumps_them(app, client, alice):
    """Every route sends a task's row through TaskSchema's own dump (app/schemas.py's RowSchema):
    every field, typed and written exactly as marshmallow's field-by-field dump writes the task
    as stored, in the same order."""
    created = [
        create(client, alice, title="Plain"),
        create(
            client,
            alice,
            title="Äpfel ✓ 🍎",
            description='with "quotes" and\nnewlines',
            completed=True,
            due_date="2026-12-24T18:30:00+01:00",
        ),
        create(client, alice, title="Due at midnight", due_date="2027-01-01T00:00:00Z", description=None),
    ]
    updated = client.put(
        f"{TASKS}/{created[0]['id']}", json={"completed": True, "description": "now done"}, headers=alice
    )
    assert updated.status_code == 200
    created[0] = updated.get_json()
    with app.app_context():
        # marshmallow's own dump, not the RowSchema's that the routes use
        stored = [Schema.dump(TaskSchema(), db.session.get(Task, task["id"])) for task in created]
    assert [list(task.items()) for task in created] == [list(task.items()) for task in stored]
    page = client.get(TASKS, headers=alice)
    assert page.status_code == 200
    assert [list(task.items()) for task in page.get_json()] == [list(task.items()) for task in stored]
    for task in stored:
        alone = client.get(f"{TASKS}/{task['id']}", headers=alice)
        assert list(alone.get_json().items()) == list(task.items())
    synced = client.get(f"{TASKS}/changes", headers=alice).get_json()["changes"]
    assert sorted(map(list, (task.items() for task in synced))) == sorted(map(list, (task.items() for task in stored)))
    assert page.get_json()[1]["due_date"] == "2026-12-24T17:30:00+00:00"
    assert page.get_json()[0]["completed_at"] is not None and page.get_json()[1]["completed_at"] is not None
    assert page.get_json()[0]["updated_at"] > page.get_json()[0]["created_at"]


def test_an_unknown_field_named_with_a_lone_surrogate_is_a_422(client, alice):
    """Such a name comes back in the field errors: it must still be written as JSON."""
    response = client.post(TASKS, data='{"title": "x", "\\ud800": 1}', headers=alice, content_type="application/json")
    assert response.status_code == 422
    assert response.get_json()["errors"] == {"\ud800": ["Unknown field."]}


@pytest.fixture
def across_spaces(client, alice, bob):
    """The assorted tasks spread over alice's own, a list of hers, and a list of bob's she edits; beside them,
    bob's own tasks and a list of his she is not in, which she must never see."""
    hers = client.post("/api/v1/lists", json={"name": "hers"}, headers=alice).get_json()["id"]
    his = client.post("/api/v1/lists", json={"name": "his"}, headers=bob).get_json()["id"]
    secret = client.post("/api/v1/lists", json={"name": "secret"}, headers=bob).get_json()["id"]
    member = {"username": "alice", "role": "editor"}
    assert client.post(f"/api/v1/lists/{his}/members", json=member, headers=bob).status_code == 201
    spaces = {None: alice, hers: alice, his: bob}
    seen = {}
    for n, (title, due) in enumerate([("b", 2), ("a", None), ("b", 1), ("c", 2), ("a", 1), ("b", None)] * 2):
        due_date = None if due is None else f"2027-01-0{due}T12:00:00Z"
        list_id = list(spaces)[n % 3]
        task = create(client, spaces[list_id], title=title, due_date=due_date, completed=n % 4 == 0, list_id=list_id)
        seen.setdefault(list_id, []).append(task)
        create(client, bob, title=title, due_date=due_date)  # bob's own
        create(client, bob, title=title, due_date=due_date, list_id=secret)
    return {"every": [task for tasks in seen.values() for task in tasks], "none": seen[None], hers: seen[hers]}


@pytest.mark.parametrize("sort", ["id", "-due_date,title", "due_date,-title", "title"])
@pytest.mark.parametrize("space", ["every", "none", "hers"])
def test_pages_of_every_space_visit_what_the_user_sees_once_in_order(client, alice, across_spaces, sort, space):
    """Every task alice can see, her own only, or one list's: page by page, as the contract orders them."""
    key = space if space != "hers" else next(k for k in across_spaces if isinstance(k, int))
    expected = expected_order(across_spaces[key], sort)
    query = "" if space == "every" else f"&list_id={key}"
    assert walk(client, alice, f"{TASKS}?limit=2&sort={sort}{query}") == expected
    counted = client.get(f"{TASKS}?limit=1&count=true&sort={sort}{query}", headers=alice)
    assert counted.headers["X-Total-Count"] == str(len(expected))
