"""what each sales user covers for lead routing: goals, regions, active flag; an index for
counting each user's open leads

Revision ID: sales_0004
Revises: sales_0003
"""

import sqlalchemy as sa

from alembic import op

revision = "sales_0004"
down_revision = "sales_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_coverage",
        sa.Column("staff_user_id", sa.Integer(), nullable=False),
        sa.Column("goals", sa.JSON(), nullable=False),
        sa.Column("regions", sa.JSON(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("last_routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_user_id"], ["staff_users.id"]),
        sa.PrimaryKeyConstraint("staff_user_id"),
    )
    op.create_index("ix_leads_assigned_status", "leads", ["assigned_to", "status"])


def downgrade() -> None:
    op.drop_index("ix_leads_assigned_status", table_name="leads")
    op.drop_table("staff_coverage")
