"""human takeover: when the chat last said "a person is on it" (once per takeover)

Revision ID: contacts_0004
Revises: contacts_0003
"""

import sqlalchemy as sa

from alembic import op

revision = "contacts_0004"
down_revision = "contacts_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("hold_notice_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("hold_notice_at")
