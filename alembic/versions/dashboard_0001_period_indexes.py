"""indexes on the created_at columns the executive overview filters by period

Revision ID: dashboard_0001
Revises: 0001
"""

from alembic import op

revision = "dashboard_0001"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXED = (("orders", "created_at"), ("payments", "created_at"), ("conversations", "created_at"),
           ("leads", "created_at"))  # fmt: skip


def upgrade() -> None:
    for table, column in INDEXED:
        op.create_index(f"ix_{table}_{column}", table, [column])


def downgrade() -> None:
    for table, column in INDEXED:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
