"""The signed-in user as a value: the one way to run a statement on a user's data.

``login_required`` (app/blueprint.py) makes a ``SignedInUser`` from the
verified token and hands it to the view, which hands it to a store. A store
runs every statement on a user's data through it:

- each statement requires ``owned(table)`` of its own table, the one
  ownership condition (an INSERT: ``owner_id=OWNER``), or it is refused
  (ValueError) before it runs;
- ``rows`` adds the token's check to the statement itself: the user exists at
  the token's version, and the token's session is not logged out. The data
  and the check cost one round trip (logouts live in the database:
  app/revocation.py);
- ``write`` first takes the user's next change number, in an UPDATE that
  makes the same check and holds the user's row until commit (app/tasks/
  sync.py says why), then runs the write in that transaction, with the
  number bound as ``change``;
- the statement runs on the connection the request calls for
  (app/connections.py).

When a statement finds nothing, the user is looked up on its own at once: a
token that is no longer good gets its 401, never a 404, 412 or 422 that would
tell its holder more. ``confirm`` makes sure of the same before any answer.
"""

from functools import lru_cache

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.sql import CompoundSelect, Delete, Insert, Subquery, Update, operators
from sqlalchemy.sql.elements import BooleanClauseList

from .connections import run
from .errors import not_authenticated
from .models import tasks, users
from .revocation import revocations
from .tokens import bearer_claims

# The signed-in user's id, bound by every statement run through a SignedInUser;
# a new row's owner (``insert(table).values(owner_id=OWNER)``).
OWNER = bindparam("user_id")


def owned(table):
    """The rows of ``table`` that are the signed-in user's: every statement on a user's data has it."""
    owner = table.c.id if table is users else table.c.owner_id
    return owner == OWNER


# The token's check, on the user's own row, and in a statement on another table
# (an EXISTS rather than a join: cheaper to plan, bench/README.md).
AT_TOKEN_VERSION = users.c.token_version == bindparam("version")
SIGNED_IN = exists().where(owned(users), AT_TOKEN_VERSION)

ACCOUNT = select(users).where(owned(users))
# The user's next change number, and their task count moved by the tasks the write adds or removes.
TASKS_ADDED = bindparam("tasks_added")
TAKE_NEXT_CHANGE = (
    update(users)
    .where(owned(users))
    .values(change_seq=users.c.change_seq + 1, task_count=users.c.task_count + TASKS_ADDED)
    .returning(users.c.change_seq, users.c.task_count)
)
COUNT_TASKS = (
    update(users).where(owned(users)).values(task_count=users.c.task_count + TASKS_ADDED).returning(users.c.task_count)
)


class SignedInUser:
    """The user a verified token names, and the token's values to check every statement by."""

    __slots__ = (
        "id",
        "version",
        "session_id",
        "session_ends",
        "token_id",
        "task_count",
        "_params",
        "_revocations",
        "_found",
        "_account",
        "_change",
    )

    def __init__(self, claims, revocations):
        # The claims are as we issue them, types included (app/tokens.py).
        self.id, self.version, self.session_id = int(claims["sub"]), claims["ver"], claims["sid"]
        # When the session's refresh token expires (a Unix time), and the refresh token's own id.
        self.session_ends = claims["sxp"]
        self.token_id = claims["jti"]
        self._params = {"user_id": self.id, "version": self.version, "session_id": self.session_id}
        self._revocations = revocations
        self._found = False  # a statement of this request found the user signed in
        self._account = None  # the user's row, once read
        self._change = None  # this request's change number, once a write has taken it
        self.task_count = None  # how many tasks the user has, once a write has taken a change number

    @classmethod
    def from_token(cls, *, refresh=False):
        """The user of this request's bearer token, once verified (401 otherwise): app/tokens.py."""
        return cls(bearer_claims(refresh), revocations())

    def rows(self, statement, *conditions, **params):
        """The rows ``statement`` (narrowed by ``conditions``) finds among the user's data.

        401 when it finds nothing because the token is no longer good. (A row
        found means the check held: an aggregate groups by owner, or it would
        answer a row to anyone.)
        """
        checked = _checked(statement, self._revocations)
        if conditions:  # per request (filters, versions): the statement built once stays cached
            checked = checked.where(*conditions)
        found = run(checked, {**params, **self._params})  # the token's values, whatever a caller passed
        if found:
            self._found = True
        else:
            self.confirm()
        return found

    def row(self, statement, **params):
        """The one row ``statement`` finds among the user's data, or None."""
        found = self.rows(statement, **params)
        return found[0] if found else None

    def write(self, statement, *conditions, **params):
        """Run a write on the user's data in the request's transaction, after the token's check.

        The request's first write takes the user's next change number (401 if
        the user is not signed in); every write binds it as ``change``. A
        write that adds or removes tasks moves the user's task count by the
        rows it returns, in the same UPDATE when it is the first (a second
        statement only when the rows differ from what was counted): the one
        place the count moves, so it cannot drift.
        """
        _refuse_unless_owned(statement)
        added, counted = _tasks_added(statement), 0
        if self._change is None:
            changed = run(_checked(TAKE_NEXT_CHANGE, self._revocations), {**self._params, "tasks_added": added})
            if not changed:
                raise not_authenticated()
            (self._change, self.task_count), self._found, counted = changed[0], True, added
        if conditions:
            statement = statement.where(*conditions)
        found = run(statement, {**params, "user_id": self.id, "change": self._change})
        if len(found) * added != counted:  # a delete that matched nothing, or a second write
            self.task_count = run(COUNT_TASKS, {"user_id": self.id, "tasks_added": len(found) * added - counted})[0][0]
        return found

    def account(self):
        """The user's row of ``users``, read once per request; 401 if the user is not signed in."""
        if self._account is None:
            found = run(_checked(ACCOUNT, self._revocations), self._params)
            if not found:  # deleted, password changed since, or logged out
                raise not_authenticated()
            self._account, self._found = found[0], True
        return self._account

    def confirm(self):
        """401 unless a statement of this request found the user signed in (one statement if none did yet)."""
        if not self._found:
            self.account()
        return self


@lru_cache(maxsize=256)
def _checked(statement, revocations):
    """``statement`` with the token's check in its WHERE clause, built once per statement."""
    table = _refuse_unless_owned(statement)
    if _tasks_added(statement):
        raise ValueError(f"tasks are added and removed through SignedInUser.write, which counts them: {statement}")
    # The user's own row is checked as it is read; another table's rows by an EXISTS.
    return revocations.checked(statement.where(AT_TOKEN_VERSION if table is users else SIGNED_IN))


@lru_cache(maxsize=256)
def _refuse_unless_owned(statement):
    """The table ``statement`` works on, once it is known to keep to the signed-in user's rows.

    That is: ``owned(table)`` is one of the conditions its WHERE clause
    requires (in each part of a UNION it reads from), or, for an INSERT, the
    new row's owner is the signed-in user.
    """
    if isinstance(statement, Insert):
        # (SQLAlchemy keeps an INSERT's values() there; its version is pinned.)
        if statement._values.get("owner_id") is not OWNER:
            raise _unowned(statement)
        return statement.table
    if isinstance(statement, (Update, Delete)):
        table = statement.table
    else:
        (table,) = statement.get_final_froms()
        if isinstance(table, Subquery):  # each part must keep to the user's rows itself
            element = table.element
            for part in element.selects if isinstance(element, CompoundSelect) else [element]:
                _refuse_unless_owned(part)
            return table
    if not any(condition.compare(owned(table)) for condition in _required(statement.whereclause)):
        raise _unowned(statement)
    return table


@lru_cache(maxsize=256)
def _tasks_added(statement):
    """By how much each row ``statement`` returns moves the task count: 1 for an INSERT into tasks, -1 for a DELETE."""
    if not (isinstance(statement, (Insert, Delete)) and statement.table is tasks):
        return 0
    if not statement.exported_columns:
        raise ValueError(f"a write that adds or removes tasks must return them, so that each is counted: {statement}")
    return 1 if isinstance(statement, Insert) else -1


def _required(clause):
    """The conditions that a WHERE clause requires, each of them (the terms of its top-level AND)."""
    if clause is None:
        return []
    if isinstance(clause, BooleanClauseList) and clause.operator is operators.and_:
        return [term for part in clause.clauses for term in _required(part)]
    return [clause]


def _unowned(statement):
    return ValueError(f"a statement on a user's data must require owned(table) of its own table: {statement}")
