"""The tasks the signed-in user can see (their own, and their lists'): each endpoint's line of the contract,
and one store call. Who may change a task in a list is app/lists/routes.py's table of roles."""

from ..blueprint import ApiBlueprint
from ..idempotency import idempotent, user_scope
from ..schemas import (
    ChangesSchema,
    IdempotencyHeaders,
    ListConditionHeaders,
    SyncQuerySchema,
    TaskCreateSchema,
    TaskListQuerySchema,
    TaskSchema,
    TaskUpdateSchema,
    WriteConditionHeaders,
)
from . import store, sync
from .paging import LIST_HEADERS, sends_page
from .versions import ETAG_HEADER, IF_NONE_MATCH, conditional_get, sends_etag

bp = ApiBlueprint("tasks", __name__, url_prefix="/tasks", description="Your tasks, and those of the lists you are in.")
bp.after_request(conditional_get)


@bp.post("")
@bp.doc(operationId="createTask")
@bp.login_required()
@bp.write_budget()
@bp.arguments(TaskCreateSchema)
@bp.arguments(IdempotencyHeaders, location="headers", as_kwargs=True)
@idempotent(user_scope)
@bp.response(201, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(403, response="FORBIDDEN", description="Read-only access to this list (a viewer)")
@bp.alt_response(404, response="NOT_FOUND", description="List not found: list_id names no list you are in")
@bp.alt_response(
    409,
    response="CONFLICT",
    description="Task limit reached (MAX_TASKS_PER_USER, or the list's MAX_TASKS_PER_LIST), "
    "or the same Idempotency-Key is still in progress",
)
@bp.alt_response(429, response="TOO_MANY_REQUESTS", description="Over the user's write budget (RATELIMIT_TASK_WRITES)")
@sends_etag
def create_task(user, fields, **_headers):
    """Create a task; with an Idempotency-Key, a retry answers the first result and creates nothing."""
    return store.create(user, fields)


@bp.get("")
@bp.doc(operationId="listTasks")
@bp.login_required()
@bp.arguments(TaskListQuerySchema, location="query")
# A schema rather than doc(parameters=...), which would replace the query's.
@bp.arguments(ListConditionHeaders, location="headers", as_kwargs=True)
@bp.response(200, TaskSchema(many=True), headers=LIST_HEADERS)
@bp.alt_response(304, description="Not modified: If-None-Match names the current page")
@bp.alt_response(404, response="NOT_FOUND", description="List not found: list_id names no list you are in")
@sends_page
def list_tasks(user, query, **_conditions):
    """The tasks you can see (your own, and those of every list you are in), a page at a time, filtered and sorted."""
    return store.page(user, query)


# signed: /tasks/-1 is a task that is not found, like any other id.
@bp.get("/<int(signed=True):task_id>")
@bp.doc(operationId="getTask")
@bp.login_required()
@bp.response(200, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(304, description="Not modified: If-None-Match names the current version")
@bp.alt_response(404, response="NOT_FOUND")
@bp.doc(parameters=[IF_NONE_MATCH])
@sends_etag
def get_task(user, task_id):
    return store.one(user, task_id)


@bp.route("/<int(signed=True):task_id>", methods=["PUT", "PATCH"])
@bp.doc(operationId={"PUT": "replaceTask", "PATCH": "updateTask"})
@bp.login_required()
@bp.write_budget()
@bp.arguments(TaskUpdateSchema)
@bp.arguments(WriteConditionHeaders, location="headers", as_kwargs=True)
@bp.response(200, TaskSchema, headers=ETAG_HEADER)
@bp.alt_response(
    403,
    response="FORBIDDEN",
    description="Read-only access to this list (a viewer), or Only the task's creator can make it private",
)
@bp.alt_response(404, response="NOT_FOUND", description="Task not found, or List not found (list_id)")
@bp.alt_response(409, response="CONFLICT", description="Task was moved to another list meanwhile, or the list is full")
@bp.alt_response(412, response="PRECONDITION_FAILED", description="The task is not at the version asked for")
@bp.alt_response(429, response="TOO_MANY_REQUESTS", description="Over the user's write budget (RATELIMIT_TASK_WRITES)")
@sends_etag
def update_task(user, changes, task_id, **versions):
    """Change the fields sent; the others keep their values (PUT and PATCH alike). ``list_id`` moves the task."""
    return store.update_fields(user, task_id, changes, **versions)


@bp.delete("/<int(signed=True):task_id>")
@bp.doc(operationId="deleteTask")
@bp.login_required()
@bp.write_budget()
@bp.arguments(WriteConditionHeaders, location="headers", as_kwargs=True)
@bp.response(204)
@bp.alt_response(403, response="FORBIDDEN", description="Read-only access to this list (a viewer)")
@bp.alt_response(404, response="NOT_FOUND")
@bp.alt_response(409, response="CONFLICT", description="Task was moved to another list meanwhile")
@bp.alt_response(412, response="PRECONDITION_FAILED", description="The task is not at the version asked for")
@bp.alt_response(429, response="TOO_MANY_REQUESTS", description="Over the user's write budget (RATELIMIT_TASK_WRITES)")
def delete_task(user, task_id, **versions):
    store.remove(user, task_id, **versions)


@bp.get("/changes")
@bp.doc(operationId="listTaskChanges")
@bp.login_required()
@bp.arguments(SyncQuerySchema, location="query")
@bp.response(200, ChangesSchema)
@bp.alt_response(410, response="GONE", description="The cursor is older than the deleted tasks kept: sync again")
def task_changes(user, query):
    """What changed since a cursor: tasks created or updated, ids deleted, oldest first.

    Without ``since``, every task (a full sync). Follow ``next_cursor`` while
    ``has_more``; keep the last cursor for the next sync.
    """
    return sync.changes(user, query.get("since"), query["limit"])
