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

from ..connections import dialect, run
from ..errors import APIError
from ..guards import CHANGE, LIST, OWNER, PRIVATE, TO_LIST, VISIBLE, owned
from ..lists import store as list_store
from ..models import (
    WRITERS,
    UTCDateTime,
    can_name_a_row,
    list_departures,
    new_task_values,
    task_tombstones,
    tasks,
    utcnow,
)
from . import keyset
from .versions import versions_named

# total: None unless the query asked for a count; next_cursor: None on the last page.
Page = namedtuple("Page", "rows total limit offset next_cursor")

TASK_ID = bindparam("task_id")
NOW = bindparam("now", type_=UTCDateTime())
DEFAULT_ORDER = (("id", False),)
# The task's space: the user's private tasks (None), or a list held.
IN_SPACE = {None: PRIVATE, "list": (tasks.c.list_id == LIST,)}

TASK = select(tasks).where(VISIBLE, tasks.c.id == TASK_ID)
SPACE_OF = select(tasks.c.list_id, tasks.c.owner_id).where(VISIBLE, tasks.c.id == TASK_ID)
CREATE = {
    None: insert(tasks).values(owner_id=OWNER, change_seq=CHANGE, entered_seq=CHANGE).returning(*tasks.c),
    "list": insert(tasks)
    .values(owner_id=OWNER, list_id=LIST, change_seq=CHANGE, entered_seq=CHANGE)
    .returning(*tasks.c),
}
DELETE = {
    kind: delete(tasks).where(*where, tasks.c.id == TASK_ID).returning(tasks.c.id) for kind, where in IN_SPACE.items()
}
# A task that leaves a space, for the devices syncing it (app/tasks/sync.py): a tombstone in the user's
# own, a departure in a list's. A task back in the user's own space has no tombstone there.
LEAVES = {
    None: insert(task_tombstones).values(owner_id=OWNER, change_seq=CHANGE),
    "list": insert(list_departures).values(list_id=LIST, change_seq=CHANGE, member_id=None),
}
FORGET_TOMBSTONE = delete(task_tombstones).where(owned(task_tombstones), task_tombstones.c.task_id == TASK_ID)


def create(user, fields):
    """A new task with ``fields`` (TaskCreateSchema's), the user's own or in a list they may write to;
    409 past MAX_TASKS_PER_USER (their own) or MAX_TASKS_PER_LIST."""
    list_id = fields.pop("list_id", None)
    if list_id is None:
        user.hold(private_added=1)
        count, limit = user.task_count, current_app.config["MAX_TASKS_PER_USER"]
    else:
        count = list_store.hold(user, list_id, roles=WRITERS, added={list_id: 1}).task_count
        limit = current_app.config["MAX_TASKS_PER_LIST"]
    if count > limit:  # counted with the number taken, not by a COUNT; nothing commits with the refusal
        raise APIError(409, "Task limit reached")
    return user.write(CREATE[_kind(list_id)], space=list_id, **new_task_values(fields))[0]


def one(user, task_id):
    """The task ``task_id``, if the user can see it (theirs, or in one of their lists); 404 otherwise."""
    task = user.row(TASK, task_id=_task_id(task_id))
    if task is None:
        raise _not_found()
    return task


def page(user, query):
    """One page of the tasks the user can see, as TaskListQuerySchema's ``query`` asks (app/tasks/keyset.py)."""
    keys, limit, offset = keyset.order(query.get("sort", DEFAULT_ORDER)), query["limit"], query["offset"]
    filters = keyset.filter_values(query)
    space = keyset.space_of(query)
    after, params = keyset.start(user.id, keys, query.get("cursor"))
    if isinstance(space, int):
        params["in_list"] = list_store.checked_id(space)
    # One task more than the page: whether there is a next page, without counting.
    names = frozenset(filters)
    statement = keyset.page_statement(keys, names, after, _kind(space), dialect())
    rows = user.rows(statement, **filters, **params, limit=limit + 1, offset=offset, window=offset + limit + 1)
    if not rows and isinstance(space, int):
        list_store.one(user, space)  # 404 for a list the user is not a member of, an empty page otherwise
    next_cursor = keyset.cursor_after(user.id, keys, rows[limit - 1]) if len(rows) > limit else None
    total = None
    if query["count"]:  # a count reads every task that matches: only when asked
        counted = user.rows(keyset.count_statement(names, _kind(space)), **filters, **params)
        total = counted[0][0] if counted else 0
    return Page(rows[:limit], total, limit, offset, next_cursor)


def update_fields(user, task_id, changes, if_match=None, if_none_match=None):
    """Change the fields in ``changes``; the others keep their values. 404, 403 or 412 if nothing may change.

    ``list_id`` in ``changes`` moves the task: out of the user's own tasks or
    a list they may write to, into another. Without a move, the user's own
    task costs no more than before lists: the UPDATE is tried on it first.
    """
    task_id = _task_id(task_id)
    conditions = _precondition(if_match, if_none_match)
    fields = {f"new_{name}": value for name, value in changes.items() if name != "list_id"}
    names = frozenset(changes) - {"list_id"}
    user.hold()
    if changes.get("list_id") is None:  # no move, or one to where the user's own tasks are: tried there first
        found = user.write(
            _update(names, changes.get("completed"), None), *conditions, task_id=task_id, now=utcnow(), **fields
        )
        if found:
            return found[0]
    source, creator = _space_of(user, task_id)
    destination = changes.get("list_id", source)
    if source == destination:
        if source is None:  # the user's own task, tried above: not at the version asked for
            raise APIError(412, "Task has changed since it was read")
        list_store.hold(user, source, roles=WRITERS, instead={source: _not_found()})
        found = user.write(
            _update(names, changes.get("completed"), "list"),
            *conditions,
            space=source,
            task_id=task_id,
            now=utcnow(),
            **fields,
        )
    else:
        found = _move(user, task_id, source, destination, creator, names, changes, conditions, fields)
    if not found:
        raise _not_written(user, task_id, source)
    return found[0]


def remove(user, task_id, if_match=None, if_none_match=None):
    """Delete the task, leaving a tombstone (or a list's departure) for syncing devices. 404, 403 or 412 if
    nothing may be deleted."""
    task_id, conditions = _task_id(task_id), _precondition(if_match, if_none_match)
    # One DELETE: of two concurrent deletes, only the one that removed the row gets 204. It is tried on the
    # user's own tasks first (as cheap as before lists); a task in a list is then found, and its list held.
    user.hold(private_added=-1)
    if user.write(DELETE[None], *conditions, task_id=task_id):
        leave_trace(user, None, task_id)
        return
    user.count_private(1)  # it was not the user's own
    source, _creator = _space_of(user, task_id)
    if source is None:
        raise APIError(412, "Task has changed since it was read")
    list_store.hold(user, source, roles=WRITERS, added={source: -1}, instead={source: _not_found()})
    if not user.write(DELETE["list"], *conditions, space=source, task_id=task_id):
        raise _not_written(user, task_id, source)
    leave_trace(user, source, task_id)


def leave_trace(user, space, task_id):
    """The task left ``space``: a tombstone in the user's own, a departure in a list's (app/tasks/sync.py)."""
    when = {} if space is None else {"departed_at": utcnow()}
    user.write(LEAVES[_kind(space)], space=space, task_id=task_id, **when)


def _move(user, task_id, source, destination, creator, names, changes, conditions, fields):
    """Move the task from the space ``source`` to ``destination`` (None: its creator's own tasks), changing
    ``changes`` as it goes: both spaces held, their counts moved, a tombstone or departure left behind."""
    if destination is None and creator != user.id:
        raise APIError(403, "Only the task's creator can make it private")
    named = [space for space in (source, destination) if space is not None]
    if source is None or destination is None:
        user.count_private(-1 if source is None else 1)
    # (A task's own list that the user has left since reading it: the task is not found, as it now is.)
    list_store.hold(user, *named, roles=WRITERS, added={source: -1, destination: 1}, instead={source: _not_found()})
    held = user.held(destination).task_count if destination is not None else user.task_count
    limit = current_app.config["MAX_TASKS_PER_USER" if destination is None else "MAX_TASKS_PER_LIST"]
    if held > limit:
        raise APIError(409, "Task limit reached")
    found = user.write(
        _update(names, changes.get("completed"), _kind(source), moving=True),
        *conditions,
        space=source,
        to=destination,
        task_id=task_id,
        now=utcnow(),
        **fields,
    )
    if found:
        if destination is None:
            user.write(FORGET_TOMBSTONE, task_id=task_id)
        leave_trace(user, source, task_id)
    return found


def seed_tasks(rows):
    """For the operator's ``flask seed`` only: tasks of any users, each row with its owner and change number."""
    run(insert(tasks), rows)


def _task_id(task_id):
    # An id beyond PostgreSQL's integer names no task (and PostgreSQL would
    # refuse to compare with it).
    if not can_name_a_row(task_id):
        raise _not_found()
    return task_id


def _not_found():
    return APIError(404, "Task not found")


def _space_of(user, task_id):
    """(list id or None, creator) of a task the user can see; 404 otherwise."""
    found = user.row(SPACE_OF, task_id=task_id)
    if found is None:
        raise _not_found()
    return found.list_id, found.owner_id


def _not_written(user, task_id, source):
    """Why a conditional write on a task held in ``source`` matched no row: gone, moved, or changed."""
    found = user.row(SPACE_OF, task_id=task_id)
    if found is None:
        return _not_found()
    if found.list_id != source:  # moved by someone else since it was read, in another space than the one held
        return APIError(409, "Task was moved to another list meanwhile; read it again")
    return APIError(412, "Task has changed since it was read")


def _kind(space):
    """What a statement is built for: None (the user's own tasks), "list" (any list: it binds the list, so one
    statement serves every list), or keyset.EVERY (a page of every space)."""
    return "list" if isinstance(space, int) else space


@lru_cache(maxsize=128)
def _update(columns, completed, kind, moving=False):
    """One UPDATE ... RETURNING per set of changed fields and kind of space, each bound as ``new_<field>``.

    ``moving``: into the space bound as ``to_list`` (None: the creator's own tasks, for the creator alone),
    where the task's change number is that space's.
    """
    values = {name: bindparam(f"new_{name}") for name in columns}
    if "completed" in columns:
        values["completed_at"] = _completed_at(completed)
    where = [*IN_SPACE[kind], tasks.c.id == TASK_ID]
    if moving:
        values.update(list_id=TO_LIST, entered_seq=CHANGE)
    return update(tasks).where(*where).values(**values, updated_at=NOW, change_seq=CHANGE).returning(*tasks.c)


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
