"""orders: seller details snapshot on invoices, receipts and credit notes

Audit re-renders each PDF from stored rows; the seller details (name, address, tax id, tax rate)
in force at issue time are kept with the document so a later settings change is not a mismatch.

Revision ID: orders_0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa

revision = "orders_0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("invoices", "receipts", "credit_notes")


def upgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("render_context", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("render_context")
