"""shared lists: lists, their members, the tasks that left them; tasks in a list

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07

A task now lives in a space: its creator's private tasks (list_id NULL), or a
list. A task's entered_seq is the change number that brought it into its
space (app/tasks/sync.py): 0 for the tasks there are, which never moved, so
no table-wide UPDATE runs here. The indexes of each kind of space
are 0011's, built outside a transaction.
"""

from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


@contextmanager
def _tasks_rebuilt():
    """``batch_alter_table("tasks")``, which SQLite does by copying the table into a new one: the copy keeps
    AUTOINCREMENT, and the highest id ever handed out (the copy would start again above the highest id
    left), so no deleted task's id is ever reused (tests/test_tasks.py)."""
    sqlite = op.get_bind().dialect.name == "sqlite"
    seq = "SELECT seq FROM sqlite_sequence WHERE name = 'tasks'"
    before = op.get_bind().exec_driver_sql(seq).scalar() if sqlite else None
    with op.batch_alter_table("tasks", table_kwargs={"sqlite_autoincrement": True}) as batch_op:
        yield batch_op
    if before is not None:
        op.execute(f"UPDATE sqlite_sequence SET seq = MAX(seq, {int(before)}) WHERE name = 'tasks'")


def upgrade():
    op.create_table(
        "lists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("change_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("purged_seq", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("task_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_lists_owner_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
        sqlite_autoincrement=True,
    )
    op.create_index(op.f("ix_lists_owner_id"), "lists", ["owner_id"])
    op.create_index(op.f("ix_lists_deleted_at"), "lists", ["deleted_at"])
    op.create_table(
        "list_members",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("left_seq", sa.BigInteger(), nullable=True),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("role IN ('owner', 'editor', 'viewer')", name=op.f("ck_list_members_role")),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_list_members_list_id_lists"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_list_members_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_list_members")),
        sqlite_autoincrement=True,
    )
    current = sa.text("left_seq IS NULL")
    op.create_index(
        "ux_list_members_current",
        "list_members",
        ["list_id", "user_id"],
        unique=True,
        postgresql_where=current,
        sqlite_where=current,
    )
    op.create_index(
        "ix_list_members_current_user_id_list_id",
        "list_members",
        ["user_id", "list_id"],
        postgresql_where=current,
        sqlite_where=current,
    )
    op.create_index("ix_list_members_list_id_id", "list_members", ["list_id", "id"])
    op.create_index(op.f("ix_list_members_left_at"), "list_members", ["left_at"])
    op.create_table(
        "list_departures",
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("change_seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("task_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=True),
        sa.Column("departed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["list_id"], ["lists.id"], name=op.f("fk_list_departures_list_id_lists"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("list_id", "change_seq", name=op.f("pk_list_departures")),
    )
    op.create_index(op.f("ix_list_departures_departed_at"), "list_departures", ["departed_at"])
    # (entered_seq 0 for the tasks there are: none has moved, so no trace names one.)
    with _tasks_rebuilt() as batch_op:
        batch_op.add_column(sa.Column("list_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("entered_seq", sa.BigInteger(), server_default="0", nullable=False))
        batch_op.create_foreign_key(
            batch_op.f("fk_tasks_list_id_lists"), "lists", ["list_id"], ["id"], ondelete="CASCADE"
        )


def downgrade():
    # Shared tasks go with their lists: the previous release knows private tasks only.
    op.execute("DELETE FROM tasks WHERE list_id IS NOT NULL")
    with _tasks_rebuilt() as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_tasks_list_id_lists"), type_="foreignkey")
        batch_op.drop_column("entered_seq")
        batch_op.drop_column("list_id")
    op.drop_table("list_departures")
    op.drop_table("list_members")
    op.drop_table("lists")
