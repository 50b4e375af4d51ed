"""staff replies shown in the web chat window (the widget fetches them by its chat id)

Revision ID: sales_0003
Revises: sales_0002
"""

import sqlalchemy as sa

from alembic import op

revision = "sales_0003"
down_revision = "sales_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("chat_replies") as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_replies_lead_id"), ["lead_id"])
        batch_op.create_index(batch_op.f("ix_chat_replies_conversation_id"), ["conversation_id"])


def downgrade() -> None:
    with op.batch_alter_table("chat_replies") as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_replies_conversation_id"))
        batch_op.drop_index(batch_op.f("ix_chat_replies_lead_id"))
    op.drop_table("chat_replies")
