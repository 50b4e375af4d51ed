"""trend source states (status, retry-after); trends.goals and an index on trends.fetched_at

Revision ID: trends_0002
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "trends_0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trend_source_states",
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.String(length=300), nullable=False),
        sa.Column("retry_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("signals", sa.Integer(), nullable=False),
        sa.Column("last_run_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("source"),
    )
    with op.batch_alter_table("trends") as batch_op:
        batch_op.add_column(sa.Column("goals", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.create_index("ix_trends_fetched_at", ["fetched_at"])


def downgrade() -> None:
    with op.batch_alter_table("trends") as batch_op:
        batch_op.drop_index("ix_trends_fetched_at")
        batch_op.drop_column("goals")
    op.drop_table("trend_source_states")
