"""payment disputes (chargebacks) recorded from Stripe charge.dispute.* events

Revision ID: orders_0003
Revises: orders_0002
"""

import sqlalchemy as sa

from alembic import op

revision = "orders_0003"
down_revision = "orders_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "payment_disputes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("provider_ref", sa.String(length=200), nullable=False),
        sa.Column("payment_ref", sa.String(length=200), nullable=True),
        sa.Column("amount_minor", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("reason", sa.String(length=60), nullable=True),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["order_id"], ["orders.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("provider_ref"),
    )
    with op.batch_alter_table("payment_disputes") as batch_op:
        batch_op.create_index(batch_op.f("ix_payment_disputes_order_id"), ["order_id"])


def downgrade() -> None:
    with op.batch_alter_table("payment_disputes") as batch_op:
        batch_op.drop_index(batch_op.f("ix_payment_disputes_order_id"))
    op.drop_table("payment_disputes")
