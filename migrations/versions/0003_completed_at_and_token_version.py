"""tasks.completed_at; users.token_version (password changes refuse older tokens)

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.add_column(sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True))
    # Tasks completed before this revision: their last change is the best guess.
    op.execute("UPDATE tasks SET completed_at = updated_at WHERE completed")
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(sa.Column("token_version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("token_version")
    with op.batch_alter_table("tasks") as batch_op:
        batch_op.drop_column("completed_at")
