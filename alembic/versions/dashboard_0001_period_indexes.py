"""indexes on the created_at columns the executive overview filters by period

Revision ID: dashboard_0001
Revises: 0001
"""

from alembic import op

revision = "dashboard_0001"
down_revision = "0001"
branch_labels = None
depends_on = None

INDEXED = (("payments", "created_at"), ("conversations", "created_at"), ("leads", "created_at"))


def upgrade() -> None:
    for table, column in INDEXED:
        op.create_index(f"ix_{table}_{column}", table, [column])
    # covering: orders per day and the funnel's checkout/paid chats never visit the table
    op.create_index("ix_orders_period", "orders", ["created_at", "conversation_id", "status"])


def downgrade() -> None:
    op.drop_index("ix_orders_period", table_name="orders")
    for table, column in INDEXED:
        op.drop_index(f"ix_{table}_{column}", table_name=table)
