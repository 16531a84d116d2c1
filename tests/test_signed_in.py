"""The signed-in user as a value (app/signed_in.py): a store cannot reach a user's rows without it."""

import jwt as pyjwt
import pytest
from flask_jwt_extended.exceptions import NoAuthorizationError
from sqlalchemy import exists, insert, or_, select, true

from app.errors import APIError
from app.guards import LIST, OWNER, PRIVATE, owned
from app.models import list_members, lists, tasks, users
from app.signed_in import SignedInUser
from app.tasks import store
from app.users import store as accounts
from tests.conftest import counted

TASKS = "/api/v1/tasks"


def signed_in():
    """The SignedInUser that login_required would hand a view, for the request's token."""
    return SignedInUser.from_token()


@pytest.fixture
def alices_task(client, alice):
    return client.post(TASKS, json={"title": "alice's"}, headers=alice).get_json()


@pytest.fixture
def statements(app):
    """The statements sent to the database while the test runs."""
    with counted(app) as sent:
        yield sent


def test_a_store_function_refuses_to_run_without_a_signed_in_user(app, alice, alices_task, statements):
    """A user's id alone, or anything but a SignedInUser, runs nothing: there is no other way in."""
    with app.test_request_context(TASKS, headers=alice):
        for not_a_user in (alices_task["owner_id"], str(alices_task["owner_id"]), None, {"id": 1}):
            with pytest.raises(AttributeError):
                store.one(not_a_user, alices_task["id"])
            with pytest.raises(AttributeError):
                store.remove(not_a_user, alices_task["id"])
            with pytest.raises(AttributeError):
                accounts.delete_account(not_a_user, "correct horse")
    assert statements == []


def test_a_signed_in_user_comes_only_from_a_verified_token(app, client, alice):
    alice_id = client.get("/api/v1/users/me", headers=alice).get_json()["id"]
    with app.test_request_context(TASKS), pytest.raises(NoAuthorizationError):  # no token in this request
        SignedInUser.from_token()
    forged = alice["Authorization"][:-4] + ("AAAA" if not alice["Authorization"].endswith("AAAA") else "BBBB")
    with app.test_request_context(TASKS, headers={"Authorization": forged}), pytest.raises(pyjwt.InvalidSignatureError):
        SignedInUser.from_token()
    with app.test_request_context(TASKS, headers=alice):
        assert signed_in().id == alice_id


def test_the_store_finds_the_tokens_users_task_and_only_while_signed_in(app, client, alice, bob, alices_task):
    task_id = alices_task["id"]
    with app.test_request_context(TASKS, headers=alice):
        assert store.one(signed_in(), task_id).title == "alice's"
    with app.test_request_context(TASKS, headers=bob), pytest.raises(APIError) as refused:
        store.one(signed_in(), task_id)
    assert refused.value.status_code == 404  # bob is signed in: alice's task is simply not found
    assert client.post("/api/v1/auth/logout", headers=alice).status_code == 204
    with app.test_request_context(TASKS, headers=alice), pytest.raises(APIError) as refused:
        store.one(signed_in(), task_id)
    assert refused.value.status_code == 401  # the same statement, checked: logged out, not "not found"


def test_a_statement_that_does_not_keep_to_the_users_rows_is_refused(app, alice, alices_task, statements):
    """Every statement on a user's data requires a guard of its own table: one that does not is never run."""
    with app.test_request_context(TASKS, headers=alice):
        user = signed_in()
        with pytest.raises(ValueError, match="guard"):
            user.rows(select(tasks).where(tasks.c.id == alices_task["id"]))
        with pytest.raises(ValueError, match="guard"):  # the owner named, but not required of the task
            user.rows(select(tasks).where(tasks.c.id == alices_task["id"], exists().where(owned(users))))
        with pytest.raises(ValueError, match="guard"):
            user.rows(select(tasks).where(or_(owned(tasks), tasks.c.id == alices_task["id"])))
        # The creator alone is not enough: a task they created in a list they have left is not theirs to see.
        with pytest.raises(ValueError, match="guard"):
            user.rows(select(tasks).where(owned(tasks), tasks.c.id == alices_task["id"]))
        with pytest.raises(ValueError, match="guard"):  # a list's tasks, without the user being a member
            user.rows(select(tasks).where(tasks.c.list_id == 1))
        with pytest.raises(ValueError, match="guard"):
            user.rows(select(lists).where(lists.c.id == 1))
        with pytest.raises(ValueError, match="guard"):
            user.write(tasks.delete().where(tasks.c.id == alices_task["id"]))
        with pytest.raises(ValueError, match="join"):  # another table joined on anything but its foreign key
            user.rows(select(list_members).select_from(list_members.join(tasks, true())).where(owned(list_members)))
    assert statements == []


def test_a_write_runs_only_in_the_spaces_the_request_holds(app, client, alice, alices_task, statements):
    """A list's rows are written only once the request holds the list, with the role it needs, taken in
    ascending order; a read never writes a user's data; the lists a write names are bound by write alone."""
    shared = client.post("/api/v1/lists", json={"name": "ours"}, headers=alice).get_json()["id"]
    other = client.post("/api/v1/lists", json={"name": "other"}, headers=alice).get_json()["id"]
    statements.clear()
    with app.test_request_context(f"{TASKS}/{alices_task['id']}", method="DELETE", headers=alice):
        user = signed_in()
        with pytest.raises(ValueError, match="through SignedInUser.write"):
            user.rows(tasks.delete().where(*PRIVATE, tasks.c.id == alices_task["id"]).returning(tasks.c.id))
        with pytest.raises(ValueError, match="not held"):
            user.write(tasks.delete().where(tasks.c.list_id == LIST), space=shared)
        with pytest.raises(ValueError, match="bound by write"):
            user.write(tasks.delete().where(tasks.c.list_id == LIST), held_list=shared)
        with pytest.raises(ValueError, match="guard"):  # a new task's list is one held, or none
            user.write(insert(tasks).values(owner_id=OWNER, list_id=shared, title="t"))
        assert user.hold(other).change == 1
        with pytest.raises(ValueError, match="ascending"):
            user.hold(shared)
    assert [statement.split()[0] for statement in statements] == ["UPDATE", "UPDATE"]  # the user's row, the list's


ACCESS_ROUTES = [
    ("GET", "/api/v1/users/me"),
    ("GET", TASKS),
    ("GET", f"{TASKS}/1"),
    ("POST", TASKS),
    ("DELETE", f"{TASKS}/1"),
    ("POST", "/api/v1/auth/logout"),
]
MISSING = object()


def resigned(app, token, claims):
    """``token`` with ``claims`` changed (MISSING: left out), signed with the server's key."""
    good = pyjwt.decode(token, options={"verify_signature": False})
    changed = {name: value for name, value in {**good, **claims}.items() if value is not MISSING}
    return pyjwt.encode(changed, app.config["JWT_SECRET_KEY"], algorithm="HS256")


@pytest.mark.parametrize(
    "claims",
    [
        {"ver": [1]},
        {"ver": "1"},
        {"ver": 1.0},
        {"ver": True},
        {"ver": None},
        {"ver": 2**40},
        {"ver": MISSING},
        {"sid": 7},
        {"sid": None},
        {"sid": ["a-session"]},
        {"sid": "x" * 37},
        {"sid": ""},
        {"sid": MISSING},
        {"sub": 7},
        {"sub": "٣"},
        {"sub": "0"},
        {"sub": "12345678901"},
        {"sub": "9" * 5000},
        {"sub": MISSING},
        {"exp": MISSING},
        {"exp": "9999999999"},
        {"exp": True},
        {"exp": 2**40},
        {"sxp": MISSING},
        {"sxp": "9999999999"},
        {"sxp": [1]},
        {"sxp": -1},
        {"sxp": 2**40},
        {"type": MISSING},
        {"type": "refresh"},
        {"type": "other"},
        {"type": ["access"]},
    ],
)
def test_access_token_claims_of_another_type_are_401_before_any_statement(app, client, alice, claims, statements):
    """Signed with the server's key but not as we issue them: 401, never a database error (whose log
    line would show the value), and a token that never expires is no token."""
    token = resigned(app, alice["Authorization"].split()[1], claims)
    for method, path in ACCESS_ROUTES:
        response = client.open(
            path,
            method=method,
            json={"title": "t"} if method == "POST" else None,
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 401, (path, claims)
        assert response.get_json() == {"detail": "Not authenticated"}
    assert statements == []


@pytest.mark.parametrize(
    "claims",
    [
        {"jti": MISSING},
        # The previous release's refresh tokens had no sxp; their logouts may live only in its Redis.
        {"sxp": MISSING},
        {"jti": 5},
        {"jti": ["x"]},
        {"jti": "x" * 37},
        {"exp": MISSING},
        {"exp": 1.5e10},
        {"ver": "1"},
        {"sid": {"a": 1}},
        {"type": MISSING},
        {"type": "access"},
    ],
)
def test_refresh_token_claims_of_another_type_are_401_before_any_statement(app, client, auth, claims, statements):
    auth.signup()
    refresh = auth.login().get_json()["refresh_token"]
    statements.clear()
    response = client.post(
        "/api/v1/auth/refresh", headers={"Authorization": f"Bearer {resigned(app, refresh, claims)}"}
    )
    assert response.status_code == 401 and response.get_json() == {"detail": "Not authenticated"}
    assert statements == []


def test_the_control_a_token_signed_the_same_way_unchanged_works(app, client, alice):
    token = resigned(app, alice["Authorization"].split()[1], {})
    assert client.get("/api/v1/users/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_an_update_never_sets_a_column_that_only_a_parameter_names(app, alice, alices_task, statements):
    """SQLAlchemy would turn a parameter named like a column into a SET of it: refused instead."""
    with app.test_request_context(f"{TASKS}/{alices_task['id']}", method="PATCH", headers=alice):
        user = signed_in()
        with pytest.raises(ValueError, match="named like columns"):
            user.write(
                store._update(frozenset({"title"}), None, None),
                task_id=alices_task["id"],
                now=None,
                new_title="renamed",
                owner_id=12345,
            )
    assert not any(statement.startswith("UPDATE tasks") for statement in statements)


def test_a_list_held_with_a_role_that_may_not_write_its_tasks_writes_none(app, client, alice, statements):
    """Leaving a list holds it with any member's role (a viewer's too): its tasks are then not to be written."""
    from app.models import ROLES

    shared = client.post("/api/v1/lists", json={"name": "ours"}, headers=alice).get_json()["id"]
    with app.test_request_context(f"{TASKS}/1", method="DELETE", headers=alice):
        user = signed_in()
        user.hold(shared, roles=ROLES)
        with pytest.raises(ValueError, match="may not write its tasks"):
            user.write(tasks.delete().where(tasks.c.list_id == LIST).returning(tasks.c.id), space=shared)
