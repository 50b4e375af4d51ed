"""team alerts: one per kind and entity (lead, outbox row, ledger record)

Revision ID: alerts_0001
Revises: 0001
"""

import sqlalchemy as sa

from alembic import op

revision = "alerts_0001"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "team_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("entity_type", sa.String(length=40), nullable=False),
        sa.Column("entity_id", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=False),
        sa.Column("channels", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "entity_type", "entity_id", name="uq_team_alerts_kind_entity"),
    )
    op.create_index("ix_team_alerts_created_at", "team_alerts", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_team_alerts_created_at", table_name="team_alerts")
    op.drop_table("team_alerts")
