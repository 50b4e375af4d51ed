"""action_replays: custom-action answers for resent chat turns (backend/replay/)

Revision ID: replay_0001
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "replay_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "action_replays",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("sender_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=80), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("claim", sa.String(length=32), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("events", sa.JSON(), nullable=True),
        sa.Column("messages", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_action_replays_sender_id", "action_replays", ["sender_id"])
    op.create_index("ix_action_replays_created_at", "action_replays", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_action_replays_created_at", table_name="action_replays")
    op.drop_index("ix_action_replays_sender_id", table_name="action_replays")
    op.drop_table("action_replays")
