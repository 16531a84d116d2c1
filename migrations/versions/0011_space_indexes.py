"""space indexes: each kind of space (a user's private tasks, a list's) read through its own partial indexes

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07

A page or a sync reads one space at a time (app/tasks/keyset.py,
app/tasks/sync.py): the user's private tasks through indexes led by the owner,
a list's through indexes led by the list, each partial, holding its kind's
tasks alone. They replace the owner-led ones of 0005 and 0006, which mixed a
user's private tasks with those they created in lists; (owner_id, id) stays,
for the creator's tasks (the account's deletion). On PostgreSQL they are built
CONCURRENTLY, outside a transaction, each dropped first if there, so a run that
failed halfway runs again (as 0006).
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

OPEN_ONLY = sa.text("NOT completed")
# The indexes this revision replaces: (columns, condition).
OLD = {
    "ix_tasks_owner_id_due_date_id": (["owner_id", "due_date", "id"], None),
    "ix_tasks_open_owner_id_id": (["owner_id", "id"], OPEN_ONLY),
    "ix_tasks_open_owner_id_due_date_id": (["owner_id", "due_date", "id"], OPEN_ONLY),
    "ix_tasks_owner_id_change_seq": (["owner_id", "change_seq"], None),
}


def _space(kind, leader, space):
    """One kind of space's indexes (as app/models.py's space_indexes, written out: a revision must not change)."""
    space, open_only = sa.text(space), sa.text(f"{space} AND NOT completed")
    return {
        f"ix_tasks_{kind}_{leader}_id": ([leader, "id"], space),
        f"ix_tasks_{kind}_{leader}_due_date_id": ([leader, "due_date", "id"], space),
        f"ix_tasks_{kind}_open_{leader}_id": ([leader, "id"], open_only),
        f"ix_tasks_{kind}_open_{leader}_due_date_id": ([leader, "due_date", "id"], open_only),
        f"ix_tasks_{kind}_{leader}_change_seq": ([leader, "change_seq"], space),
    }


NEW = {**_space("private", "owner_id", "list_id IS NULL"), **_space("list", "list_id", "list_id IS NOT NULL")}


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
