"""lead activity history (the sales inbox: who did what to a lead, when)

Revision ID: sales_0002
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "sales_0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "lead_activities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("actor_role", sa.String(length=20), nullable=True),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("from_status", sa.String(length=20), nullable=True),
        sa.Column("to_status", sa.String(length=20), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["actor_id"], ["staff_users.id"]),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("lead_activities") as batch_op:
        batch_op.create_index(batch_op.f("ix_lead_activities_lead_id"), ["lead_id"])


def downgrade() -> None:
    with op.batch_alter_table("lead_activities") as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_activities_lead_id"))
    op.drop_table("lead_activities")
