"""The signed-in user's tasks. Nobody else's task is ever found."""

from flask_jwt_extended import current_user
from sqlalchemy import delete, select, update

from ..blueprint import ApiBlueprint
from ..errors import APIError
from ..extensions import db
from ..models import MAX_ID, Task, utcnow
from ..schemas import TaskCreateSchema, TaskSchema, TaskUpdateSchema

bp = ApiBlueprint("tasks", __name__, url_prefix="/tasks", description="The signed-in user's tasks.")


def own_task(task_id):
    """The condition that picks the current user's task ``task_id``.

    Every read and write goes through it, so another user's task is never
    found: a 404, exactly like a missing one.
    """
    # An id beyond PostgreSQL's integer names no task (and PostgreSQL would
    # refuse to compare with it).
    if not 1 <= task_id <= MAX_ID:
        raise APIError(404, "Task not found")
    return (Task.id == task_id) & (Task.owner_id == current_user.id)


def found(task):
    if task is None:
        raise APIError(404, "Task not found")
    return task


@bp.post("")
@bp.login_required()
@bp.arguments(TaskCreateSchema)
@bp.response(201, TaskSchema)
def create_task(fields):
    task = Task(owner_id=current_user.id, **fields)
    db.session.add(task)
    db.session.commit()
    return task


@bp.get("")
@bp.login_required()
@bp.response(200, TaskSchema(many=True))
def list_tasks():
    return db.session.scalars(select(Task).where(Task.owner_id == current_user.id).order_by(Task.id))


# signed: /tasks/-1 is a task that is not found, like any other id.
@bp.get("/<int(signed=True):task_id>")
@bp.login_required()
@bp.response(200, TaskSchema)
@bp.alt_response(404, response="NOT_FOUND")
def get_task(task_id):
    return found(db.session.scalar(select(Task).where(own_task(task_id))))


@bp.put("/<int(signed=True):task_id>")
@bp.login_required()
@bp.arguments(TaskUpdateSchema)
@bp.response(200, TaskSchema)
@bp.alt_response(404, response="NOT_FOUND")
def update_task(changes, task_id):
    """Change the fields sent; the others keep their values."""
    # One UPDATE ... RETURNING: atomic against a concurrent delete (404, not a
    # lost row) and one round trip.
    task = found(db.session.scalar(
        update(Task).where(own_task(task_id)).values(**changes, updated_at=utcnow()).returning(Task)
    ))
    db.session.commit()
    return task


@bp.delete("/<int(signed=True):task_id>")
@bp.login_required()
@bp.response(204)
@bp.alt_response(404, response="NOT_FOUND")
def delete_task(task_id):
    # One DELETE: of two concurrent deletes, only the one that removed the row gets 204.
    if db.session.execute(delete(Task).where(own_task(task_id))).rowcount == 0:
        raise APIError(404, "Task not found")
    db.session.commit()
