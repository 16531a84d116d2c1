"""users.task_count: how many tasks each user has, for MAX_TASKS_PER_USER without a count per create

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07

Backfilled from the tasks here; from then on every write that adds or removes
a task moves it (SignedInUser.write). Tasks that a previous release still
running writes after this runs are not counted (a rolling update's last
minutes): the count is then off by as many, and only the cap notices.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("task_count", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE users SET task_count = (SELECT COUNT(*) FROM tasks WHERE tasks.owner_id = users.id)")


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("task_count")
