"""The signed-in user's tasks. Nobody else's task is ever found."""

from functools import lru_cache
from urllib.parse import urlencode

from flask import jsonify, request
from sqlalchemy import bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from ..blueprint import ApiBlueprint
from ..connections import read_rows
from ..errors import APIError
from ..extensions import db
from ..idempotency import complete, idempotent
from ..sync import FULL_SYNC, changes_since, decode_cursor, leave_tombstone, next_change
from ..models import MAX_ID, completed_at_after, new_task_values, tasks, utcnow
from ..schemas import (
    ChangesSchema,
    IdempotencyHeaders,
    ListConditionHeaders,
    TaskCreateSchema,
    TaskListQuerySchema,
    SyncQuerySchema,
    TaskSchema,
    TaskUpdateSchema,
)
from ..security import SIGNED_IN, current_user, found_signed_in, token_checked, token_params, token_user_id
from .versions import ETAG_HEADER, IF_MATCH, IF_NONE_MATCH, conditional_get, etag, write_precondition

bp = ApiBlueprint("tasks", __name__, url_prefix="/tasks", description="The signed-in user's tasks.")
bp.after_request(conditional_get)

LIST_HEADERS = {"X-Total-Count": {"schema": {"type": "integer"}, "description": "Tasks matching the filters."},
                "Link": {"schema": {"type": "string"}, "description": "RFC 8288 first, prev, next, last."},
                "ETag": {"schema": {"type": "string"}, "description": "The page's version, for If-None-Match."}}


def own_task(task_id):
    """The condition that picks the token's user's task ``task_id``.

    Every write goes through it, and every read through OWN_TASKS, so another
    user's task is never found: a 404, exactly like a missing one. (A write
    has checked its token with its change number, next_change, first.)
    """
    return (tasks.c.id == checked_id(task_id)) & (tasks.c.owner_id == token_user_id())


def checked_id(task_id):
    # An id beyond PostgreSQL's integer names no task (and PostgreSQL would
    # refuse to compare with it).
    if not 1 <= task_id <= MAX_ID:
        raise APIError(404, "Task not found")
    return task_id


# A create, an update, a task and a page send tasks as rows of exactly
# TaskSchema's fields, in its order, as the statement returns them: dumping ORM objects field by field
# through marshmallow cost more than all the rest of a list request, and the
# ORM's flush was a third of a create (in profiles). TaskSchema still
# documents them; tests/test_task_lists.py checks that they equal its dump.
TASK_FIELDS = tuple(TaskSchema().dump_fields)


def task_columns():
    return [tasks.c[name] for name in TASK_FIELDS]


def task_body(row):
    """A task row as the JSON object TaskSchema would dump."""
    return dict(zip(TASK_FIELDS, row))


# What every read may find: the token's user's tasks, and only while that
# user is signed in (the token's checks ride along: one round trip).
OWN_TASKS = (tasks.c.owner_id == bindparam("user_id")) & SIGNED_IN
# Built once (composing a statement costs more than running it).
OWN_TASK = select(*task_columns()).where(tasks.c.id == bindparam("task_id"), OWN_TASKS)
# Writes go to the table, not through the ORM: one statement each, returning the answer.
INSERT_TASK = insert(tasks).returning(*task_columns())


def not_written(task_id):
    """Why a conditional write matched no row: the task is gone, or it changed."""
    if db.session.scalar(select(tasks.c.id).where(own_task(task_id))) is None:
        return APIError(404, "Task not found")
    return APIError(412, "Task has changed since it was read")


def list_filters(query):
    """The filters the query asks for, beyond the owner."""
    conditions = []
    if "completed" in query:
        conditions.append(tasks.c.completed == query["completed"])
    if "due_after" in query:
        conditions.append(tasks.c.due_date >= query["due_after"])
    if "due_before" in query:
        conditions.append(tasks.c.due_date < query["due_before"])
    if "q" in query:
        conditions.append(or_(tasks.c.title.icontains(query["q"], autoescape=True),
                              tasks.c.description.icontains(query["q"], autoescape=True)))
    return conditions


@lru_cache(maxsize=64)
def page_query(sort_keys):
    """One page and the total (a window count, so one round trip), built once per order."""
    return (select(*task_columns(), func.count().over().label("total"))
            .where(OWN_TASKS).order_by(*list_order(sort_keys))
            .limit(bindparam("limit")).offset(bindparam("offset")))


def list_order(sort_keys):
    """ORDER BY for ``sort``, ties broken by id; missing due dates sort last either way."""
    order = []
    for name, descending in sort_keys:
        column = tasks.c[name]
        order.append((column.desc() if descending else column.asc()).nulls_last())
    if "id" not in (name for name, _ in sort_keys):
        order.append(tasks.c.id.asc())
    return order


def paging_links(total, limit, offset):
    """RFC 8288 ``Link``: first, prev, next, last, keeping the request's filters."""
    kept = [(k, v) for k, v in request.args.items(multi=True) if k not in ("limit", "offset")]

    def link(rel, to):
        return f'<{request.path}?{urlencode(kept + [("limit", limit), ("offset", to)])}>; rel="{rel}"'

    last = max(total - 1, 0) // limit * limit
    links = [link("first", 0)]
    if offset > 0:
        links.append(link("prev", max(min(offset - limit, last), 0)))
    if offset + limit < total:
        links.append(link("next", offset + limit))
    links.append(link("last", last))
    return ", ".join(links)


@bp.post("")
@bp.login_required(user_checked_by_view=True)  # by next_change
@bp.arguments(TaskCreateSchema)
@bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@bp.response(201, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(409, response="CONFLICT", description="The same Idempotency-Key is still in progress")
@idempotent(lambda: f"user:{current_user.id}")
def create_task(fields, **_headers):
    """Create a task; with an Idempotency-Key, a retry answers the first result and creates nothing."""
    seq = next_change()  # first: checks the token
    values = new_task_values({**fields, "owner_id": token_user_id(), "change_seq": seq})
    try:
        task = db.session.execute(INSERT_TASK, values).one()
        body, headers = task_body(task), {"ETag": f'"{etag(task)}"'}
        complete(201, lambda: body, headers)
        db.session.commit()
    except IntegrityError:  # the account was deleted while this request ran
        db.session.rollback()
        raise APIError(401, "Not authenticated") from None
    return jsonify(body), 201, headers


@bp.get("")
@bp.login_required(user_checked_by_view=True)  # by the page's statement
@bp.arguments(TaskListQuerySchema, location="query")
# A schema rather than doc(parameters=...), which would replace the query's.
@bp.arguments(ListConditionHeaders, location="headers", as_kwargs=True)
@bp.response(200, TaskSchema(many=True), headers=LIST_HEADERS)
@bp.alt_response(304, description="Not modified: If-None-Match names the current page")
def list_tasks(query, **_conditions):
    """The user's tasks, a page at a time, filtered and sorted."""
    filters = list_filters(query)
    limit, offset = query["limit"], query["offset"]
    statement = token_checked(page_query(tuple(query.get("sort", [("id", False)]))))
    if filters:  # (a new statement: the plain list keeps the one built once)
        statement = statement.where(*filters)
    rows = read_rows(statement, {**token_params(), "limit": limit, "offset": offset})
    if rows:
        found_signed_in()
        total = rows[0].total
    elif offset:  # past the end: the total still counts what matches
        total = db.session.scalar(select(func.count()).select_from(tasks).where(
            tasks.c.owner_id == current_user.id, *filters))
    else:  # nothing matches (or the token is no longer good: login_required checks)
        total = 0
    headers = {"X-Total-Count": str(total), "Link": paging_links(total, limit, offset)}
    return jsonify([task_body(row) for row in rows]), headers


# signed: /tasks/-1 is a task that is not found, like any other id.
@bp.get("/<int(signed=True):task_id>")
@bp.login_required(user_checked_by_view=True)  # by OWN_TASK
@bp.response(200, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(304, description="Not modified: If-None-Match names the current version")
@bp.alt_response(404, response="NOT_FOUND")
@bp.doc(parameters=[IF_NONE_MATCH])
def get_task(task_id):
    rows = read_rows(token_checked(OWN_TASK), {**token_params(), "task_id": checked_id(task_id)})
    if not rows:
        raise APIError(404, "Task not found")  # (a 401 first if that is why: login_required checks)
    found_signed_in()
    task = rows[0]
    return jsonify(task_body(task)), {"ETag": f'"{etag(task)}"'}


@bp.route("/<int(signed=True):task_id>", methods=["PUT", "PATCH"])
@bp.login_required(user_checked_by_view=True)  # by next_change
@bp.arguments(TaskUpdateSchema)
@bp.response(200, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(412, response="PRECONDITION_FAILED", description="The task is not at the version asked for")
@bp.doc(parameters=[IF_MATCH, IF_NONE_MATCH])
def update_task(changes, task_id):
    """Change the fields sent; the others keep their values (PUT and PATCH alike)."""
    now = utcnow()
    if "completed" in changes:
        changes["completed_at"] = completed_at_after(changes["completed"], now)
    # One UPDATE ... RETURNING, conditional on If-Match: atomic against a
    # concurrent change or delete.
    seq = next_change()  # first: checks the token
    task = db.session.execute(
        update(tasks).where(own_task(task_id), write_precondition())
        .values(**changes, updated_at=now, change_seq=seq).returning(*task_columns())
    ).first()
    if task is None:
        raise not_written(task_id)
    db.session.commit()
    return jsonify(task_body(task)), {"ETag": f'"{etag(task)}"'}


@bp.delete("/<int(signed=True):task_id>")
@bp.login_required(user_checked_by_view=True)  # by next_change
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(412, response="PRECONDITION_FAILED", description="The task is not at the version asked for")
@bp.doc(parameters=[IF_MATCH, IF_NONE_MATCH])
def delete_task(task_id):
    seq = next_change()  # first: checks the token
    # One DELETE: of two concurrent deletes, only the one that removed the row gets 204.
    if db.session.execute(delete(tasks).where(own_task(task_id), write_precondition())).rowcount == 0:
        raise not_written(task_id)
    leave_tombstone(task_id, token_user_id(), seq)  # so that syncing devices learn of it
    db.session.commit()


@bp.get("/changes")
@bp.login_required()
@bp.arguments(SyncQuerySchema, location="query")
@bp.response(200, ChangesSchema)
@bp.alt_response(410, response="GONE", description="The cursor is older than the deleted tasks kept: sync again")
def task_changes(query):
    """What changed since a cursor: tasks created or updated, ids deleted, oldest first.

    Without ``since``, every task (a full sync). Follow ``next_cursor`` while
    ``has_more``; keep the last cursor for the next sync.
    """
    seq, full = decode_cursor(query["since"], current_user) if "since" in query else (FULL_SYNC, True)
    changed, deleted, cursor, more = changes_since(current_user, seq, full, query["limit"])
    return {"changes": changed, "deleted": deleted, "next_cursor": cursor, "has_more": more}
