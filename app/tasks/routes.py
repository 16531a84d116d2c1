"""The signed-in user's tasks. Nobody else's task is ever found."""

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import delete, select, update

from ..errors import APIError
from ..extensions import db
from ..inputs import load_json
from ..models import MAX_ID, Task, utcnow
from ..schemas import TaskCreateSchema, TaskSchema

bp = Blueprint("tasks", __name__, url_prefix="/tasks")

task_create_schema = TaskCreateSchema()
task_update_schema = TaskCreateSchema(partial=True)  # PUT changes only what it names
task_schema = TaskSchema()
tasks_schema = TaskSchema(many=True)


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
@jwt_required()
def create_task():
    task = Task(owner_id=current_user.id, **load_json(task_create_schema))
    db.session.add(task)
    db.session.commit()
    return task_schema.dump(task), 201


@bp.get("")
@jwt_required()
def list_tasks():
    tasks = db.session.scalars(
        select(Task).where(Task.owner_id == current_user.id).order_by(Task.id)
    )
    return tasks_schema.dump(tasks)


# signed: /tasks/-1 is a task that is not found, like any other id.
@bp.get("/<int(signed=True):task_id>")
@jwt_required()
def get_task(task_id):
    return task_schema.dump(found(db.session.scalar(select(Task).where(own_task(task_id)))))


@bp.put("/<int(signed=True):task_id>")
@jwt_required()
def update_task(task_id):
    changes = load_json(task_update_schema)
    # One UPDATE ... RETURNING: atomic against a concurrent delete (404, not a
    # lost row) and one round trip.
    task = found(db.session.scalar(
        update(Task).where(own_task(task_id)).values(**changes, updated_at=utcnow()).returning(Task)
    ))
    db.session.commit()
    return task_schema.dump(task)


@bp.delete("/<int(signed=True):task_id>")
@jwt_required()
def delete_task(task_id):
    # One DELETE: of two concurrent deletes, only the one that removed the row gets 204.
    if db.session.execute(delete(Task).where(own_task(task_id))).rowcount == 0:
        raise APIError(404, "Task not found")
    db.session.commit()
    return "", 204
