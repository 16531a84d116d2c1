"""delta sync: per-user change numbers on tasks, tombstones of deleted tasks

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("purged_seq", sa.BigInteger(), server_default="0", nullable=False))
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False))
    # Existing tasks: distinct, increasing change numbers (their ids), and each
    # user's counter above them, so that a full sync can page through them.
    op.execute("UPDATE tasks SET change_seq = id")
    op.execute("UPDATE users SET change_seq = COALESCE((SELECT MAX(id) FROM tasks WHERE tasks.owner_id = users.id), 0)")
    op.create_index("ix_tasks_owner_id_change_seq", "tasks", ["owner_id", "change_seq"], unique=False)
    op.create_table(
        "task_tombstones",
        sa.Column("task_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_task_tombstones_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_tombstones")),
    )
    op.create_index("ix_task_tombstones_owner_id_change_seq", "task_tombstones", ["owner_id", "change_seq"])
    op.create_index(op.f("ix_task_tombstones_deleted_at"), "task_tombstones", ["deleted_at"])


def downgrade():
    op.drop_index(op.f("ix_task_tombstones_deleted_at"), table_name="task_tombstones")
    op.drop_index("ix_task_tombstones_owner_id_change_seq", table_name="task_tombstones")
    op.drop_table("task_tombstones")
    op.drop_index("ix_tasks_owner_id_change_seq", table_name="tasks")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("change_seq")
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("purged_seq")
        batch_op.drop_column("change_seq")
