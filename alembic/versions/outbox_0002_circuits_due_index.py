"""outbox circuit breakers (one row per provider), a partial index for due rows, blanked_at

Revision ID: outbox_0002
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "outbox_0002"
down_revision = "0001"
branch_labels = None
depends_on = None

DUE = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_table(
        "outbox_circuits",
        sa.Column("provider", sa.String(length=40), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("open_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("provider"),
    )
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.add_column(sa.Column("blanked_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_outbox_messages_due",
        "outbox_messages",
        ["kind", "next_attempt_at"],
        postgresql_where=sa.text(DUE),
        sqlite_where=sa.text(DUE),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_messages_due", table_name="outbox_messages")
    with op.batch_alter_table("outbox_messages") as batch_op:
        batch_op.drop_column("blanked_at")
    op.drop_table("outbox_circuits")
