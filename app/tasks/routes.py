"""The signed-in user's tasks. Nobody else's task is ever found."""

from flask import Blueprint
from flask_jwt_extended import current_user, jwt_required
from sqlalchemy import select

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


def get_own_task(task_id):
    """The current user's task, or 404 whether it is missing or someone else's."""
    task = None
    if task_id <= MAX_ID:
        task = db.session.scalar(
            select(Task).where(Task.id == task_id, Task.owner_id == current_user.id)
        )
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


@bp.get("/<int:task_id>")
@jwt_required()
def get_task(task_id):
    return task_schema.dump(get_own_task(task_id))


@bp.put("/<int:task_id>")
@jwt_required()
def update_task(task_id):
    changes = load_json(task_update_schema)
    task = get_own_task(task_id)
    for field, value in changes.items():
        setattr(task, field, value)
    task.updated_at = utcnow()
    db.session.commit()
    return task_schema.dump(task)


@bp.delete("/<int:task_id>")
@jwt_required()
def delete_task(task_id):
    db.session.delete(get_own_task(task_id))
    db.session.commit()
    return "", 204
