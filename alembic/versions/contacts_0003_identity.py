"""one person, one record: identity keys, merges, chat verification, one-time codes

Revision ID: contacts_0003
Revises: contacts_0002
"""

import sqlalchemy as sa

from alembic import op

revision = "contacts_0003"
down_revision = "contacts_0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("contacts") as batch:
        batch.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
        batch.add_column(sa.Column("phone_key", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch.create_foreign_key("fk_contacts_merged_into", "contacts", ["merged_into_id"], ["id"])
    _backfill_keys()
    op.create_index("ix_contacts_email_key", "contacts", ["email_key"], unique=True)
    op.create_index("ix_contacts_phone_key", "contacts", ["phone_key"], unique=True)
    op.create_index("ix_contacts_merged_into_id", "contacts", ["merged_into_id"])
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "identity_checks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=36), nullable=False),
        sa.Column("contact_id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=True),
        sa.Column("purpose", sa.String(length=30), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["contact_id"], ["contacts.id"]),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("public_id"),
    )
    op.create_index("ix_identity_checks_contact_id", "identity_checks", ["contact_id"])
    op.create_index("ix_identity_checks_conversation_id", "identity_checks", ["conversation_id"])


def _backfill_keys() -> None:
    """Keys for existing live contacts, newest first; older duplicates stay unkeyed until
    `backend contacts merge-duplicates` folds them into the keyed one."""
    from backend.contacts.identity import email_key, phone_key

    conn = op.get_bind()
    rows = conn.execute(
        sa.text(
            "SELECT id, email, phone_e164 FROM contacts WHERE erased_at IS NULL ORDER BY id DESC"
        )
    ).all()
    taken: set[tuple[str, str]] = set()
    for row in rows:
        values = {}
        for column, key in (
            ("email_key", email_key(row.email)),
            ("phone_key", phone_key(row.phone_e164)),
        ):
            if key and (column, key) not in taken:
                taken.add((column, key))
                values[column] = key
        if values:
            sets = ", ".join(f"{c} = :{c}" for c in values)  # column names from this file
            statement = sa.text(f"UPDATE contacts SET {sets} WHERE id = :id")  # noqa: S608
            conn.execute(statement, {**values, "id": row.id})


def downgrade() -> None:
    op.drop_index("ix_identity_checks_conversation_id", table_name="identity_checks")
    op.drop_index("ix_identity_checks_contact_id", table_name="identity_checks")
    op.drop_table("identity_checks")
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("verified_at")
    op.drop_index("ix_contacts_merged_into_id", table_name="contacts")
    op.drop_index("ix_contacts_phone_key", table_name="contacts")
    op.drop_index("ix_contacts_email_key", table_name="contacts")
    with op.batch_alter_table("contacts") as batch:
        batch.drop_constraint("fk_contacts_merged_into", type_="foreignkey")
        batch.drop_column("merged_into_id")
        batch.drop_column("phone_key")
        batch.drop_column("email_key")
