"""The signed-in user's tasks: every statement on ``tasks``, each run through the SignedInUser.

(The list's statements are built in app/tasks/keyset.py.) Statements are
built once (per sort order and filters, per set of changed fields) with
bound parameters; what varies per request is bound, or added as conditions
(filters, If-Match). Nobody else's task is ever found: a 404, exactly like a
missing one.
"""

from collections import namedtuple
from functools import lru_cache

from flask import current_app
from sqlalchemy import bindparam, case, delete, false, insert, null, select, update

from ..connections import run
from ..errors import APIError
from ..models import MAX_ID, UTCDateTime, new_task_values, tasks, utcnow
from ..signed_in import OWNER, owned
from . import keyset
from .sync import CHANGE, leave_tombstone
from .versions import versions_named

# total: None unless the query asked for a count; next_cursor: None on the last page.
Page = namedtuple("Page", "rows total limit offset next_cursor")

TASK_ID = bindparam("task_id")
NOW = bindparam("now", type_=UTCDateTime())
DEFAULT_ORDER = (("id", False),)

TASK = select(tasks).where(owned(tasks), tasks.c.id == TASK_ID)
TASK_EXISTS = select(tasks.c.id).where(owned(tasks), tasks.c.id == TASK_ID)
CREATE = insert(tasks).values(owner_id=OWNER, change_seq=CHANGE).returning(*tasks.c)
DELETE = delete(tasks).where(owned(tasks), tasks.c.id == TASK_ID).returning(tasks.c.id)


def create(user, fields):
    """A new task of the user's, with ``fields`` (TaskCreateSchema's); 409 past MAX_TASKS_PER_USER."""
    task = user.write(CREATE, **new_task_values(fields))[0]
    if user.task_count > current_app.config["MAX_TASKS_PER_USER"]:  # counted with the write, not by a COUNT
        raise APIError(409, "Task limit reached")  # nothing commits: the new task goes with the refusal
    return task


def one(user, task_id):
    """The user's task ``task_id``; 404 if the user has none by that id."""
    task = user.row(TASK, task_id=_task_id(task_id))
    if task is None:
        raise _not_found()
    return task


def page(user, query):
    """One page of the user's tasks as TaskListQuerySchema's ``query`` asks (app/tasks/keyset.py)."""
    keys, limit, offset = keyset.order(query.get("sort", DEFAULT_ORDER)), query["limit"], query["offset"]
    filters = keyset.filter_values(query)
    after, params = keyset.start(user.id, keys, query.get("cursor"))
    # One task more than the page: whether there is a next page, without counting.
    names = frozenset(filters)
    statement = keyset.page_statement(keys, names, after)
    rows = user.rows(statement, **filters, **params, limit=limit + 1, offset=offset, window=offset + limit + 1)
    next_cursor = keyset.cursor_after(user.id, keys, rows[limit - 1]) if len(rows) > limit else None
    total = None
    if query["count"]:  # a count reads every task that matches: only when asked
        counted = user.rows(keyset.count_statement(names), **filters)
        total = counted[0][0] if counted else 0
    return Page(rows[:limit], total, limit, offset, next_cursor)


def update_fields(user, task_id, changes, if_match=None, if_none_match=None):
    """Change the fields in ``changes``; the others keep their values. 404 or 412 if nothing matched."""
    found = user.write(
        _update(frozenset(changes), changes.get("completed")),
        *_precondition(if_match, if_none_match),
        task_id=_task_id(task_id),
        now=utcnow(),
        **{f"new_{name}": value for name, value in changes.items()},
    )
    if not found:
        raise _not_written(user, task_id)
    return found[0]


def remove(user, task_id, if_match=None, if_none_match=None):
    """Delete the task, leaving a tombstone for syncing devices. 404 or 412 if nothing matched."""
    # One DELETE: of two concurrent deletes, only the one that removed the row gets 204.
    if not user.write(DELETE, *_precondition(if_match, if_none_match), task_id=_task_id(task_id)):
        raise _not_written(user, task_id)
    leave_tombstone(user, task_id)


def seed_tasks(rows):
    """For the operator's ``flask seed`` only: tasks of any users, each row with its owner and change number."""
    run(insert(tasks), rows)


def _task_id(task_id):
    # An id beyond PostgreSQL's integer names no task (and PostgreSQL would
    # refuse to compare with it).
    if not 1 <= task_id <= MAX_ID:
        raise _not_found()
    return task_id


def _not_found():
    return APIError(404, "Task not found")


def _not_written(user, task_id):
    """Why a conditional write matched no row: the task is gone, or it changed."""
    if user.row(TASK_EXISTS, task_id=task_id) is None:
        return _not_found()
    return APIError(412, "Task has changed since it was read")


@lru_cache(maxsize=64)
def _update(columns, completed):
    """One UPDATE ... RETURNING per set of changed fields, each bound as ``new_<field>``."""
    values = {name: bindparam(f"new_{name}") for name in columns}
    if "completed" in columns:
        values["completed_at"] = _completed_at(completed)
    return (
        update(tasks)
        .where(owned(tasks), tasks.c.id == TASK_ID)
        .values(**values, updated_at=NOW, change_seq=CHANGE)
        .returning(*tasks.c)
    )


def _completed_at(completed):
    """What an UPDATE that sets ``completed`` does to ``completed_at``.

    Kept when the task was already completed, now when it becomes completed,
    cleared when it is reopened; decided by the database, so it is right
    however the task changed since the client read it.
    """
    if not completed:
        return null()
    return case((tasks.c.completed, tasks.c.completed_at), else_=NOW)


def _precondition(if_match, if_none_match):
    """The WHERE conditions that ``If-Match`` and ``If-None-Match`` ask of a write (RFC 9110).

    If-Match: the task is at one of the versions named (compared strongly:
    weak tags never match; ``*`` matches any). If-None-Match: it is at none
    of them (``*``: the task must not exist, so any existing task fails).
    """
    conditions = []
    if if_match and not if_match.star_tag:
        conditions.append(tasks.c.updated_at.in_(versions_named(if_match, weak=False)))
    if if_none_match:
        if if_none_match.star_tag:
            conditions.append(false())
        else:
            conditions.append(tasks.c.updated_at.not_in(versions_named(if_none_match, weak=True)))
    return conditions
