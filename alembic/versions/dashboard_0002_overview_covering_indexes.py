"""covering indexes for the executive overview's period queries

Revision ID: dashboard_0002
Revises: dashboard_0001

Each index leads with what the overview filters on and carries the columns it reads, so the
funnel, revenue and per-day series never visit the tables. Three replace a plain index on their
leading column (two from dashboard_0001, one from the initial schema).
"""

from alembic import op

revision = "dashboard_0002"
down_revision = "dashboard_0001"
branch_labels = None
depends_on = None

COVERING = (
    ("ix_payments_period", "payments", ["created_at", "status", "currency", "amount_minor"]),
    ("ix_leads_period", "leads", ["created_at", "kind", "sla_due_at"]),
    ("ix_orders_paid_period", "orders", ["status", "created_at", "conversation_id"]),
    ("ix_consent_events_contact_purpose", "consent_events", ["contact_id", "purpose", "granted"]),
    (
        "ix_consent_events_period",
        "consent_events",
        ["purpose", "granted", "created_at", "conversation_id"],
    ),
    ("ix_interactions_period", "interactions", ["kind", "created_at", "conversation_id"]),
    ("ix_lead_activities_first_reply", "lead_activities", ["to_status", "lead_id", "created_at"]),
)
REPLACED = (
    ("ix_payments_created_at", "payments", "created_at"),
    ("ix_leads_created_at", "leads", "created_at"),
    ("ix_consent_events_contact_id", "consent_events", "contact_id"),
)


def upgrade() -> None:
    for name, table, columns in COVERING:
        op.create_index(name, table, columns)
    for name, table, _ in REPLACED:
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, table, column in REPLACED:
        op.create_index(name, table, [column])
    for name, table, _ in COVERING:
        op.drop_index(name, table_name=table)
