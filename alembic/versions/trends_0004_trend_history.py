"""trend history: each ingest run's score and volume per trend and goal (the Trends chart)

Revision ID: trends_0004
Revises: trends_0003
"""

import sqlalchemy as sa

from alembic import op

revision = "trends_0004"
down_revision = "trends_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trend_history",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=300), nullable=False),
        sa.Column("goal", sa.String(length=40), nullable=True),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("volume", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_trend_history_run_at", "trend_history", ["run_at"])
    op.create_index("ix_trend_history_goal", "trend_history", ["goal"])


def downgrade() -> None:
    op.drop_index("ix_trend_history_goal", table_name="trend_history")
    op.drop_index("ix_trend_history_run_at", table_name="trend_history")
    op.drop_table("trend_history")
