"""data-subject requests remember which chat sender's tracker rows still need erasing

Revision ID: contacts_0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "contacts_0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Erasure of Rasa's tracker rows must happen outside the chat turn that asked for it
    # (Rasa re-saves the whole tracker after the action); the sender id is kept only until then.
    with op.batch_alter_table("data_subject_requests") as batch:
        batch.add_column(sa.Column("sender_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("data_subject_requests") as batch:
        batch.drop_column("sender_id")
