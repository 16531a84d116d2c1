"""token families: the refresh token of each session that may be used next (rotation, reuse detection)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "token_families",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("jti", sa.String(length=36), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_token_families_owner_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_token_families")),
    )
    op.create_index(op.f("ix_token_families_owner_id"), "token_families", ["owner_id"], unique=False)
    op.create_index(op.f("ix_token_families_expires_at"), "token_families", ["expires_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_token_families_expires_at"), table_name="token_families")
    op.drop_index(op.f("ix_token_families_owner_id"), table_name="token_families")
    op.drop_table("token_families")
