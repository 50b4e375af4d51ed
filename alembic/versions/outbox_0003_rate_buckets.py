"""outbox rate buckets: one row per provider, the delivery rate shared by every worker

Revision ID: outbox_0003
Revises: outbox_0002
"""

import sqlalchemy as sa

from alembic import op

revision = "outbox_0003"
down_revision = "outbox_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outbox_rate_buckets",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("next_slot", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )


def downgrade() -> None:
    op.drop_table("outbox_rate_buckets")
