"""human takeover: since when the team has the chat (the idle timeout hands it back)

Revision ID: contacts_0005
Revises: contacts_0004
"""

import sqlalchemy as sa

from alembic import op

revision = "contacts_0005"
down_revision = "contacts_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("handed_off_at", sa.DateTime(timezone=True), nullable=True))
    # chats already with the team start their idle clock now
    op.execute(
        sa.text("UPDATE conversations SET handed_off_at = CURRENT_TIMESTAMP WHERE handed_off")
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("handed_off_at")
