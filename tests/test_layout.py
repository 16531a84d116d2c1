"""Which way the imports run (docs/architecture.md): a rule broken here fails the suite, not a review."""

import ast
from pathlib import Path

import pytest

APP = Path(__file__).resolve().parent.parent / "app"


def imports(path):
    """The absolute names a module imports: modules, and ``module.name`` for each name taken from one."""
    package = ".".join(path.relative_to(APP.parent).with_suffix("").parts[:-1])  # where "." points
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            module = (
                ".".join(base[: len(base) - node.level + 1] + ([node.module] if node.module else []))
                if node.level
                else node.module
            )
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def modules(pattern):
    return sorted(APP.glob(pattern))


def app_imports(path):
    return {name for name in imports(path) if name == "app" or name.startswith("app.")}


def test_the_rule_reader_sees_what_a_module_imports():
    """The control: the reader below finds relative and absolute imports alike."""
    assert {"app.guards", "app.guards.owned", "app.tasks.keyset"} <= imports(APP / "tasks" / "store.py")


def test_extensions_import_nothing_of_the_app():
    assert app_imports(APP / "extensions.py") == set()


@pytest.mark.parametrize("lower", ["models.py", "connections.py"])
def test_models_and_connections_know_only_the_extensions(lower):
    assert all(name.startswith("app.extensions") for name in app_imports(APP / lower)), app_imports(APP / lower)


def test_guards_know_only_the_tables():
    """The conditions every statement must require are built on the tables alone: nothing runs them here."""
    assert all(name.startswith("app.models") for name in app_imports(APP / "guards.py")), app_imports(APP / "guards.py")


@pytest.mark.parametrize("routes", modules("*/routes.py"), ids=lambda path: path.parent.name)
def test_views_reach_the_database_only_through_their_stores(routes):
    """No view imports the models, builds a statement, picks a connection, or reads g or a token's claims."""
    forbidden = (
        "app.models",
        "app.connections",
        "app.extensions",
        "app.signed_in",
        "app.guards",
        "sqlalchemy",
        "flask.g",
        "flask_jwt_extended",
    )
    found = {name for name in imports(routes) if name.startswith(forbidden)}
    assert found == set(), routes


STATEMENT_BUILDERS = [
    APP / "tasks" / "sync.py",
    APP / "tasks" / "keyset.py",
    APP / "tasks" / "cursors.py",
    APP / "signed_in.py",
    APP / "guards.py",
]


@pytest.mark.parametrize(
    "store", modules("*/store.py") + STATEMENT_BUILDERS, ids=lambda path: str(path.relative_to(APP))
)
def test_stores_know_nothing_of_views(store):
    views = (
        "app.blueprint",
        "app.auth",
        "app.users.routes",
        "app.tasks.routes",
        "app.lists.routes",
        "flask.request",
        "flask.g",
    )
    assert {name for name in imports(store) if name.startswith(views)} == set()


# The only store functions that reach the database without a SignedInUser, and why:
# no one is signed in yet (signup, login), the operator runs them over every user, or
# (refresh_session) a session's first refresh inserts its row once the UPDATE run
# through the SignedInUser found none and so confirmed the user signed in.
WITHOUT_A_SIGNED_IN_USER = {
    "tasks/store.py": {"seed_tasks"},
    "tasks/sync.py": {"purge_tombstones"},
    "tasks/keyset.py": set(),  # builds the list's statements; tasks/store.py runs them
    # The user to add is found by username; a user's lists are counted (theirs, or the new member's);
    # an account about to go finds the lists holding its tasks, which it may no longer be a member of.
    "lists/store.py": {"add_member", "_lists_of", "forget_account"},
    # A reset link: no one is signed in (the password is forgotten); the token names the account.
    "users/store.py": {
        "create_account",
        "authenticate",
        "all_accounts",
        "seed_accounts",
        "_unique_names",
        "issue_reset",
        "reset_password",
        "refresh_session",
    },
}


@pytest.mark.parametrize("store", sorted(WITHOUT_A_SIGNED_IN_USER))
def test_a_store_reaches_a_users_data_only_through_the_signed_in_user(store):
    """Every other function of a store runs its statements through the SignedInUser it is given."""
    tree = ast.parse((APP / store).read_text())
    direct = {
        function.name
        for function in tree.body
        if isinstance(function, ast.FunctionDef)
        for node in ast.walk(function)
        if isinstance(node, ast.Name) and node.id in ("run", "db")
    }
    assert direct == WITHOUT_A_SIGNED_IN_USER[store]
