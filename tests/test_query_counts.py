"""Round trips to the database per request, counted: an added query or an N+1 fails here."""

import re

import pytest

from app.extensions import db
from tests.conftest import AuthActions, counted

TASKS = "/api/v1/tasks"


@pytest.fixture
def with_tasks(client, alice):
    return [client.post(TASKS, json={"title": f"t{n}"}, headers=alice).get_json()["id"] for n in range(50)]


@pytest.mark.parametrize(
    "method, path, body, expected",
    [
        ("get", "/api/v1/users/me", None, 1),  # token and user in one statement
        # Every statement on a user's data checks the token itself (app/signed_in.py).
        ("get", f"{TASKS}/{{id}}", None, 1),
        ("get", f"{TASKS}?limit=20", None, 1),  # the page and whether another follows: no N+1, no count
        ("get", f"{TASKS}?limit=20&sort=due_date", None, 1),  # dated and undated tasks, one UNION ALL
        ("get", f"{TASKS}?limit=20&count=true", None, 2),  # + the count, asked for
        ("get", f"{TASKS}?limit=50&offset=100", None, 2),  # past the end: + the user (401 or an empty page)
        # Writes: the token checked with the user's next change number (SignedInUser.write), then the write.
        ("post", TASKS, {"title": "new"}, 2),
        ("put", f"{TASKS}/{{id}}", {"completed": True}, 2),  # UPDATE ... RETURNING
        ("patch", f"{TASKS}/{{id}}", {"title": "x"}, 2),
        ("delete", f"{TASKS}/{{id}}", None, 3),  # + the tombstone
        ("get", f"{TASKS}/changes?limit=100", None, 3),  # the page's numbers in one snapshot, then its tasks
        # The account's own row, checked as it is changed; tasks and tombstones go by ON DELETE CASCADE.
        ("patch", "/api/v1/users/me", {"username": "alicia"}, 1),
        # With the current password: its hash read first; a new e-mail address also voids the reset links.
        # + the user's row held, and the lists it owns or has tasks in, which it leaves first (app/lists/store.py).
        ("delete", "/api/v1/users/me", {"current_password": "correct horse"}, 4),
        ("patch", "/api/v1/users/me", {"email": "a@example.org", "current_password": "correct horse"}, 3),
        ("put", "/api/v1/users/me/password", {"current_password": "correct horse", "new_password": "long enough"}, 3),
        ("get", "/healthz", None, 0),
        ("get", "/readyz", None, 1),
    ],
)
def test_statements_per_request(app, client, alice, with_tasks, method, path, body, expected):
    with counted(app) as statements:
        response = getattr(client, method)(path.format(id=with_tasks[0]), json=body, headers=alice)
    assert response.status_code < 300
    assert len(statements) == expected, statements


@pytest.mark.parametrize("sort", ["id", "due_date", "-due_date,title"])
def test_a_page_by_cursor_is_one_statement(app, client, alice, with_tasks, sort):
    first = client.get(f"{TASKS}?limit=20&sort={sort}", headers=alice)
    following = re.search(r'<([^>]*)>; rel="next"', first.headers["Link"]).group(1)
    with counted(app) as statements:
        assert len(client.get(following, headers=alice).get_json()) == 20
    assert len(statements) == 1, statements


def test_a_reset_request_is_two_statements_with_or_without_an_account(app, client, auth):
    """The same two statements either way (app/users/store.py), so neither answer is quicker."""
    assert auth.signup().status_code == 201
    for email in ("alice@example.com", "nobody@example.com"):
        with counted(app) as statements:
            assert client.post("/api/v1/auth/password-reset", json={"email": email}).status_code == 202
        assert [statement.split()[0] for statement in statements] == ["DELETE", "INSERT"], email


def test_login_and_signup_are_one_statement_each(app, client):
    with counted(app) as statements:
        assert (
            client.post(
                "/api/v1/auth/signup",
                json={"username": "carol", "email": "carol@example.com", "password": "long enough"},
            ).status_code
            == 201
        )
    assert len(statements) == 1
    with counted(app) as statements:
        assert (
            client.post(
                "/api/v1/auth/login", json={"email": "carol@example.com", "password": "long enough"}
            ).status_code
            == 200
        )
    assert len(statements) == 1


@pytest.mark.parametrize(
    "method, path, body",
    [
        ("get", "/api/v1/users/me", None),
        ("get", f"{TASKS}/{{id}}", None),
        ("get", f"{TASKS}?limit=50", None),
        ("get", f"{TASKS}/changes", None),
        ("post", TASKS, {"title": "new"}),
        ("put", f"{TASKS}/{{id}}", {"title": "x"}),
        ("delete", f"{TASKS}/{{id}}", None),
        ("patch", "/api/v1/users/me", {"username": "alicia"}),
    ],
)
def test_reads_skip_begin_and_rollback_writes_keep_their_transaction(
    app, client, alice, with_tasks, method, path, body
):
    """On PostgreSQL a read is its statements alone (app/connections.py); a write is never in autocommit."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("autocommit reads are for PostgreSQL's round trips")
    with counted(app) as statements:
        response = getattr(client, method)(path.format(id=with_tasks[0]), json=body, headers=alice)
    assert response.status_code < 300
    assert statements.autocommit == [method == "get"] * len(statements)
    # The connection goes back to the pool ready for a write.
    with counted(app) as statements:
        assert client.post(TASKS, json={"title": "after"}, headers=alice).status_code == 201
    assert statements.autocommit == [False] * len(statements)


def test_a_write_after_a_read_in_one_app_context_is_a_transaction(app, client, alice):
    """As in a script or a test that holds one app context around several requests."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("autocommit reads are for PostgreSQL's round trips")
        with counted(app) as statements:
            assert client.get("/api/v1/users/me", headers=alice).status_code == 200
            assert client.post(TASKS, json={"title": "after a read"}, headers=alice).status_code == 201
    assert statements.autocommit == [True] + [False] * (len(statements) - 1)


def test_the_hot_statements_are_plain_sql_not_orm():
    """Built on the tables (app/models.py): a model's attribute anywhere in one would send
    every request's statement through the ORM's compile and loading steps, with nothing to
    show for it (bench/README.md). (``_propagate_attrs`` is where SQLAlchemy marks a
    statement for the ORM; SQLAlchemy is pinned in requirements.txt.)"""
    from app.revocation import DatabaseRevocations
    from app.signed_in import ACCOUNT, TAKE_NEXT_CHANGE, _checked
    from app.tasks.keyset import count_statement, page_statement
    from app.tasks.store import CREATE, TASK, _update

    checked = [
        ACCOUNT,
        TASK,
        TAKE_NEXT_CHANGE,
        count_statement(frozenset({"q"})),
        page_statement((("id", False),), frozenset({"completed"}), frozenset()),
        page_statement((("due_date", True), ("title", False), ("id", False)), frozenset(), None),
        page_statement((("id", False),), frozenset(), None, "list"),
        page_statement((("id", False),), frozenset(), None, None),
    ]
    writes = [*CREATE.values(), _update(frozenset({"title", "completed"}), True, None)]
    revocations = DatabaseRevocations()
    for statement in checked + [_checked(statement, revocations) for statement in checked] + writes:
        assert "compile_state_plugin" not in statement._propagate_attrs, statement


def test_a_read_holds_one_pooled_connection_at_a_time(make_app):
    """A read's statements take a connection of their own (app/connections.py's run): a
    read that held both at once would wait for the pool under load. With a pool of one, such
    a read would time out as a 503; every read route answers, signed in and logged out."""
    app = make_app(DB_POOL_SIZE="1", DB_MAX_OVERFLOW="0", DB_POOL_TIMEOUT="1")
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("SQLite's engine has no such pool settings")
    client = app.test_client()
    headers = AuthActions(client).headers()
    task = client.post(TASKS, json={"title": "t"}, headers=headers).get_json()["id"]
    cursor = client.get(f"{TASKS}/changes", headers=headers).get_json()["next_cursor"]
    reads = [
        "/api/v1/users/me",
        TASKS,
        f"{TASKS}?q=t&completed=false",
        f"{TASKS}?offset=50",
        f"{TASKS}?offset=50&q=nothing",
        f"{TASKS}/{task}",
        f"{TASKS}/999999",
        f"{TASKS}/changes",
        f"{TASKS}/changes?since={cursor}",
    ]
    expected = {"/api/v1/users/me": 200, f"{TASKS}/999999": 404}
    for method in ("GET", "HEAD"):
        for path in reads:
            assert client.open(path, method=method, headers=headers).status_code == expected.get(path, 200), path
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    for method in ("GET", "HEAD"):
        for path in reads:
            assert client.open(path, method=method, headers=headers).status_code == 401, path


def test_a_page_of_a_shared_list_is_one_statement_and_the_sync_stays_three(app, client, alice, bob):
    """The member's check rides in the page's statement, as the token's does; the sync reads the user's
    spaces (their row and memberships) in one statement, whatever the number of lists."""
    lists = [client.post("/api/v1/lists", json={"name": f"l{n}"}, headers=alice).get_json()["id"] for n in range(3)]
    for list_id in lists:
        member = {"username": "bob", "role": "editor"}
        assert client.post(f"/api/v1/lists/{list_id}/members", json=member, headers=alice).status_code == 201
        for n in range(25):
            assert client.post(TASKS, json={"title": f"t{n}", "list_id": list_id}, headers=bob).status_code == 201
    for path in (
        f"{TASKS}?limit=10&list_id={lists[0]}",
        f"{TASKS}?limit=10&sort=due_date&list_id={lists[1]}",
        f"{TASKS}?limit=10",
    ):
        with counted(app) as statements:
            first = client.get(path, headers=alice)
        assert len(first.get_json()) == 10 and len(statements) == 1, statements
        following = re.search(r'<([^>]*)>; rel="next"', first.headers["Link"]).group(1)
        with counted(app) as statements:
            assert len(client.get(following, headers=alice).get_json()) == 10
        assert len(statements) == 1, statements
    with counted(app) as statements:
        page = client.get(f"{TASKS}/changes?limit=30", headers=alice).get_json()
    assert len(page["changes"]) == 30 and page["has_more"]
    assert len(statements) == 3, statements
