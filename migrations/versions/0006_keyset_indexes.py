"""keyset pagination: indexes that start a user's page where its cursor points

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07

(owner_id, id) and (owner_id, due_date, id) serve the list sorted by id (the
default) and by due date, and the same two for the open tasks only
(completed=false); (owner_id, id) also replaces the index on owner_id alone.
On PostgreSQL they are built CONCURRENTLY, outside a transaction, so writes
to a large tasks table go on while they build. Each is dropped (if there)
before it is built: a run that failed halfway, which leaves an index INVALID
or one built but not recorded, can simply be run again.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OPEN_ONLY = sa.text("NOT completed")
NEW = {
    "ix_tasks_owner_id_id": (["owner_id", "id"], None),
    "ix_tasks_owner_id_due_date_id": (["owner_id", "due_date", "id"], None),
    "ix_tasks_open_owner_id_id": (["owner_id", "id"], OPEN_ONLY),
    "ix_tasks_open_owner_id_due_date_id": (["owner_id", "due_date", "id"], OPEN_ONLY),
}
OLD = {"ix_tasks_owner_id": (["owner_id"], None)}


def upgrade():
    _create(NEW)
    _drop(OLD)


def downgrade():
    _create(OLD)
    _drop(NEW)


def _concurrently():
    return {"postgresql_concurrently": True} if op.get_bind().dialect.name == "postgresql" else {}


def _create(indexes):
    with op.get_context().autocommit_block():
        for name, (columns, where) in indexes.items():
            op.drop_index(name, table_name="tasks", if_exists=True, **_concurrently())
            op.create_index(name, "tasks", columns, postgresql_where=where, sqlite_where=where, **_concurrently())


def _drop(indexes):
    with op.get_context().autocommit_block():
        for name in indexes:
            op.drop_index(name, table_name="tasks", if_exists=True, **_concurrently())
