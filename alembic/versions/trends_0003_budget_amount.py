"""source_budgets.amount: counted quotas (X post reads per month)

Revision ID: trends_0003
Revises: trends_0002
"""

import sqlalchemy as sa

from alembic import op

revision = "trends_0003"
down_revision = "trends_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("source_budgets") as batch_op:
        batch_op.add_column(sa.Column("amount", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("source_budgets") as batch_op:
        batch_op.drop_column("amount")
