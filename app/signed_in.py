"""The signed-in user as a value: the one way to run a statement on a user's data.

``login_required`` (app/blueprint.py) makes a ``SignedInUser`` from the
verified token and hands it to the view, which hands it to a store. A store
runs every statement on a user's data through it:

- each statement requires one of its table's guards (``GUARDS``): the user's
  own rows (``owned``), their private tasks, what they can see (their own, and
  their current lists'), or, for a write, a list this request holds. Anything
  else is refused (ValueError) before it runs;
- ``rows`` adds the token's check to the statement itself: the user exists at
  the token's version, and the token's session is not logged out. The data
  and the check cost one round trip (logouts live in the database:
  app/revocation.py);
- a write first takes the change numbers of the spaces it changes: always the
  user's own (``users.change_seq``, in an UPDATE that makes the token's check),
  then each list it touches, in ascending id order (``hold``), each in an
  UPDATE that checks the user's role in it. Each UPDATE holds its row until
  commit (app/tasks/sync.py says why). Taken in that one order (the user's
  own row, which only they lock, then lists by id), two writes never wait on
  each other in a cycle: no deadlock. ``write`` then runs the statement in
  that transaction, with the space's number bound (``change``) and the
  lists it names bound from those held (``held_list``, ``to_list``);
- the statement runs on the connection the request calls for
  (app/connections.py).

When a statement finds nothing, the user is looked up on its own at once: a
token that is no longer good gets its 401, never a 404, 412 or 422 that would
tell its holder more. ``confirm`` makes sure of the same before any answer.
"""

from functools import lru_cache

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.sql import Insert

from .connections import run
from .errors import not_authenticated
from .guards import BOUND_BY_WRITE, LIST, WRITTEN_BY_WRITE, owned, refuse_unless_guarded
from .models import WRITERS, list_members, lists, tasks, users
from .revocation import revocations
from .tokens import bearer_claims

# The token's check, on the user's own row, and in a statement on another table
# (an EXISTS rather than a join: cheaper to plan, bench/README.md).
AT_TOKEN_VERSION = users.c.token_version == bindparam("version")
SIGNED_IN = exists().where(owned(users), AT_TOKEN_VERSION)

ACCOUNT = select(users).where(owned(users))
# The user's next change number, and their count of private tasks moved by what the write adds or removes.
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
# The lists that hold tasks the user created (whether or not they are still a member).
CREATED_IN = select(tasks.c.list_id).where(owned(tasks), tasks.c.list_id.is_not(None))


@lru_cache(maxsize=8)
def _take_list_changes(roles):
    """A list's next change number, and its count of tasks moved, if the user's role in it is one of
    ``roles`` (None: if it holds tasks they created): only such a member takes the list's row."""
    if roles is None:  # (for the user's own tasks in the list: their account's deletion)
        role_held = CREATED_IN
    else:
        role_held = select(list_members.c.list_id).where(
            owned(list_members), list_members.c.left_seq.is_(None), list_members.c.role.in_(roles)
        )
    return (
        update(lists)
        .where(lists.c.id == LIST, lists.c.id.in_(role_held))
        .values(change_seq=lists.c.change_seq + 1, task_count=lists.c.task_count + TASKS_ADDED)
        .returning(lists.c.change_seq, lists.c.task_count)
    )


ROLE_IN = select(list_members.c.role).where(
    owned(list_members), list_members.c.left_seq.is_(None), list_members.c.list_id == bindparam("list")
)


class NotHeld(Exception):
    """The user may not change the list: ``role`` is theirs in it (None: not a member, or no such list)."""

    def __init__(self, list_id, role):
        super().__init__(list_id, role)
        self.list_id, self.role = list_id, role


class Held:
    """A list the request holds: the last change number it took, the list's task count after, and whether
    the role it was taken with lets the user write its tasks."""

    __slots__ = ("change", "task_count", "writes_tasks")

    def __init__(self, change, task_count, writes_tasks=True):
        self.change, self.task_count, self.writes_tasks = change, task_count, writes_tasks


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
        "_held",
    )

    def __init__(self, claims, revocations):
        # The claims are as we issue them, types included (app/tokens.py).
        self.id, self.version, self.session_id = int(claims["sub"]), claims["ver"], claims["sid"]
        # When the session's refresh token expires (a Unix time), and the refresh token's own id.
        self.session_ends = claims["sxp"]
        self.token_id = claims["jti"]
        self._params = {"me": self.id, "version": self.version, "session_id": self.session_id}
        self._revocations = revocations
        self._found = False  # a statement of this request found the user signed in
        self._account = None  # the user's row, once read
        self._change = None  # this request's change number in the user's own space, once taken
        self._held = {}  # list id -> Held, for the lists this request holds
        self.task_count = None  # how many private tasks the user has, once a change number is taken

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

    def hold(self, *list_ids, roles=WRITERS, added=None, private_added=0):
        """Take the change numbers of the spaces a write changes: the user's own, then each list of ``list_ids``.

        The user's own comes first in every write (401 if the user is not
        signed in), moving their count of private tasks by ``private_added``.
        Lists are taken in ascending id order, each once (a list below one
        held already is refused: that order is what keeps two writes from
        deadlocking), each only if the user's role in it is one of ``roles``
        (NotHeld otherwise; ``roles=None``: a list holding tasks the user
        created), moving its task count by ``added[list_id]``.
        Returns the Held of the last list named.
        """
        if self._change is None:
            changed = run(_checked(TAKE_NEXT_CHANGE, self._revocations), {**self._params, "tasks_added": private_added})
            if not changed:
                raise not_authenticated()
            (self._change, self.task_count), self._found = changed[0], True
        elif private_added:
            self.count_private(private_added)
        held = None
        for list_id in sorted(list_ids):
            if list_id in self._held or (self._held and list_id < max(self._held)):
                raise ValueError(f"list {list_id} taken out of ascending order: {sorted(self._held)}")
            taken = run(
                _take_list_changes(None if roles is None else tuple(roles)),
                {
                    "me": self.id,
                    "held_list": list_id,
                    "tasks_added": (added or {}).get(list_id, 0),
                },
            )
            if not taken:
                role = run(ROLE_IN, {"me": self.id, "list": list_id})
                raise NotHeld(list_id, role[0].role if role else None)
            # (roles=None: the user's own tasks there, which their account's deletion removes.)
            writes_tasks = roles is None or set(roles) <= set(WRITERS)
            held = self._held[list_id] = Held(*taken[0], writes_tasks)
        return held

    def count_private(self, added):
        """Move the user's count of private tasks by ``added``, after their change number was taken."""
        self.task_count = run(COUNT_TASKS, {"me": self.id, "tasks_added": added})[0][0]

    def held(self, list_id):
        """What the request holds of ``list_id`` (taken by ``hold``, or created by this request)."""
        return self._held[list_id]

    def write(self, statement, *conditions, space=None, to=..., **params):
        """Run a write in the request's transaction, on a space it holds.

        ``space``: None for the user's private tasks (their change number is
        taken first, if it is not yet), or a list held (``hold``), bound as
        ``held_list``. ``to``: a move's destination space (None or a held list),
        bound as ``to_list``; its number is then ``change``. A write that
        matches nothing changes no count:
        the store refuses it, and nothing of the request commits.
        """
        refuse_unless_guarded(statement, writing=True)
        if params.keys() & BOUND_BY_WRITE:
            raise ValueError(f"bound by write, from what the request holds: {sorted(params.keys() & BOUND_BY_WRITE)}")
        if self._change is None:
            self.hold()
        numbers = {"me": self.id, "change": self._number(space, statement)}
        if space is not None:
            numbers["held_list"] = space
        if to is not ...:
            numbers.update(change=self._number(to, statement), to_list=to)
        if conditions:
            statement = statement.where(*conditions)
        written = run(statement, {**params, **numbers})
        if statement.table is lists and isinstance(statement, Insert):
            # A list this request made (its owner is this user) is held by it, at change number 0: the
            # newest list, above any held already.
            self._held.update((row.id, Held(0, 0)) for row in written)
        return written

    def _number(self, space, statement):
        if space is None:
            return self._change
        if space not in self._held:
            raise ValueError(f"list {space} is not held by this request: SignedInUser.hold takes it first")
        if statement.table is tasks and not self._held[space].writes_tasks:
            raise ValueError(f"list {space} is held with a role that may not write its tasks: {statement}")
        return self._held[space].change

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
    if statement.is_dml and statement.table in WRITTEN_BY_WRITE:
        raise ValueError(f"a write on {statement.table.name} goes through SignedInUser.write: {statement}")
    table = refuse_unless_guarded(statement)
    # The user's own row is checked as it is read; another table's rows by an EXISTS.
    return revocations.checked(statement.where(AT_TOKEN_VERSION if table is users else SIGNED_IN))
