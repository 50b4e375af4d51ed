"""the local CRM's records (what each push would have sent)

Revision ID: crm_0002
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "crm_0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "crm_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("outbox_message_id", sa.Integer(), nullable=True),
        sa.Column("contact_id", sa.Integer(), nullable=True),
        sa.Column("operation", sa.String(length=20), nullable=False),
        sa.Column("topic", sa.String(length=60), nullable=False),
        sa.Column("properties", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["outbox_message_id"], ["outbox_messages.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("outbox_message_id"),
    )
    with op.batch_alter_table("crm_records") as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_records_contact_id"), ["contact_id"])


def downgrade() -> None:
    with op.batch_alter_table("crm_records") as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_records_contact_id"))
    op.drop_table("crm_records")
