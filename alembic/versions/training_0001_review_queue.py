"""review queue: flagged customer messages (masked), trainers' labels, scan position

Revision ID: training_0001
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "training_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_items",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("predicted_intent", sa.String(length=80), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("bot_answer", sa.Text(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("said_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "message_id", name="uq_training_items_msg"),
    )
    op.create_index("ix_training_items_conversation_id", "training_items", ["conversation_id"])
    op.create_index("ix_training_items_score", "training_items", ["score"])
    op.create_table(
        "training_labels",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("item_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("verdict", sa.String(length=20), nullable=False),
        sa.Column("intent", sa.String(length=80), nullable=True),
        sa.Column("entities", sa.JSON(), nullable=False),
        sa.Column("expected_action", sa.String(length=80), nullable=True),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["item_id"], ["training_items.id"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_training_labels_item_id", "training_labels", ["item_id"])
    op.create_index("ix_training_labels_conversation_id", "training_labels", ["conversation_id"])
    op.create_table(
        "training_scans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("last_event_id", sa.Integer(), nullable=False),
        sa.Column("conversations", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("ran_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("training_scans")
    op.drop_index("ix_training_labels_conversation_id", table_name="training_labels")
    op.drop_index("ix_training_labels_item_id", table_name="training_labels")
    op.drop_table("training_labels")
    op.drop_index("ix_training_items_score", table_name="training_items")
    op.drop_index("ix_training_items_conversation_id", table_name="training_items")
    op.drop_table("training_items")
