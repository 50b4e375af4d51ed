"""funnel_chats: each chat's latest consent/goal/checkout/paid row, kept by triggers

Revision ID: dashboard_0003
Revises: dashboard_0002

The executive overview's funnel counted COUNT(DISTINCT chat) over a period's consents and
orders: ~1.5 µs a row on SQLite, 0.3 s of a year's overview over 100k orders and consents.
With each chat's latest row per step, a chat reached a step in [start, end) exactly when that
latest row is in it, or is later and an earlier row is in it: an index range count.

Triggers keep the table in the transaction of every insert, update and delete on the two
tables, whoever writes (services, jobs, erasure, bulk loads): each recomputes the chat's
latest row from the table itself, so an update or delete can move it back too. On Postgres an
advisory lock per chat and step serialises two transactions refreshing the same chat, so the
later one reads the earlier one's rows; SQLite already serialises writers.
"""

import sqlalchemy as sa

from alembic import op

revision = "dashboard_0003"
down_revision = "dashboard_0002"
branch_labels = None
depends_on = None

# step -> (table, which rows count). "paid" = backend.dashboard.service.REVENUE_STATUSES
# (tests/integration/test_funnel_chats.py compares the figures with the live counts).
STEPS = {
    "consent": ("consent_events", "purpose = 'privacy' AND granted = TRUE"),
    "goal": ("consent_events", "purpose = 'health_data' AND granted = TRUE"),
    "checkout": ("orders", "TRUE"),
    "paid": ("orders", "status IN ('paid', 'refunded', 'partially_refunded')"),
}
# the columns whose change can move a chat's latest row
WATCHED = {
    "consent_events": "purpose, granted, created_at, conversation_id",
    "orders": "status, created_at, conversation_id",
}


def _refresh(step: str, chat: str) -> str:
    """SQL that recomputes one chat's latest row for a step (`chat`: OLD/NEW.conversation_id)."""
    table, rows = STEPS[step]
    # built from this module's constants only
    return (
        f"DELETE FROM funnel_chats "  # noqa: S608
        f"WHERE step = '{step}' AND conversation_id = {chat}; "
        f"INSERT INTO funnel_chats (step, conversation_id, last_at) "
        f"SELECT '{step}', conversation_id, max(created_at) FROM {table} "
        f"WHERE conversation_id = {chat} AND {rows} GROUP BY conversation_id;"
    )


def _refresh_all(table: str, row: str, *, lock: bool) -> str:
    out = []
    for step, (step_table, _) in STEPS.items():
        if step_table != table:
            continue
        chat = f"{row}.conversation_id"
        if lock:
            out.append(f"PERFORM pg_advisory_xact_lock(hashtext('funnel:{step}:' || {chat}));")
        out.append(_refresh(step, chat))
    return " ".join(out)


def _create_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, columns in WATCHED.items():
            op.execute(
                f"""
                CREATE OR REPLACE FUNCTION funnel_chats_{table}() RETURNS trigger AS $$
                BEGIN
                    IF TG_OP <> 'INSERT' AND OLD.conversation_id IS NOT NULL THEN
                        {_refresh_all(table, "OLD", lock=True)}
                    END IF;
                    IF TG_OP <> 'DELETE' AND NEW.conversation_id IS NOT NULL THEN
                        {_refresh_all(table, "NEW", lock=True)}
                    END IF;
                    RETURN NULL;
                END;
                $$ LANGUAGE plpgsql
                """
            )
            op.execute(
                f"CREATE TRIGGER funnel_chats_{table} AFTER INSERT OR DELETE OR UPDATE OF "
                f"{columns} ON {table} FOR EACH ROW EXECUTE FUNCTION funnel_chats_{table}()"
            )
        return
    for table, columns in WATCHED.items():
        old, new = _refresh_all(table, "OLD", lock=False), _refresh_all(table, "NEW", lock=False)
        for event, body in (
            ("INSERT", new),
            (f"UPDATE OF {columns}", old + " " + new),
            ("DELETE", old),
        ):
            name = f"funnel_chats_{table}_{event.split()[0].lower()}"
            op.execute(f"CREATE TRIGGER {name} AFTER {event} ON {table} BEGIN {body} END")


def _drop_triggers() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS funnel_chats_{table} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS funnel_chats_{table}()")
        return
    for table in WATCHED:
        for event in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER IF EXISTS funnel_chats_{table}_{event}")


# Each trigger reads one chat's rows: indexes that lead with the chat (and carry the step's
# columns) replace the plain conversation_id ones, or SQLite picks the purpose index and reads
# every consent of that purpose on each insert.
CHAT_INDEXES = (
    (
        "consent_events",
        "ix_consent_events_chat",
        ["conversation_id", "purpose", "granted", "created_at"],
    ),
    ("orders", "ix_orders_chat", ["conversation_id", "status", "created_at"]),
)


def upgrade() -> None:
    for table, name, columns in CHAT_INDEXES:
        op.create_index(name, table, columns)
        op.drop_index(f"ix_{table}_conversation_id", table_name=table)
    op.create_table(
        "funnel_chats",
        sa.Column("step", sa.String(20), nullable=False),
        sa.Column("conversation_id", sa.String(128), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("step", "conversation_id"),
    )
    op.create_index("ix_funnel_chats_step_last", "funnel_chats", ["step", "last_at"])
    for step, (table, rows) in STEPS.items():
        op.execute(  # built from this module's constants only
            f"INSERT INTO funnel_chats (step, conversation_id, last_at) "  # noqa: S608
            f"SELECT '{step}', conversation_id, max(created_at) FROM {table} "
            f"WHERE conversation_id IS NOT NULL AND {rows} GROUP BY conversation_id"
        )
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_index("ix_funnel_chats_step_last", table_name="funnel_chats")
    op.drop_table("funnel_chats")
    for table, name, _ in CHAT_INDEXES:
        op.create_index(f"ix_{table}_conversation_id", table, ["conversation_id"])
        op.drop_index(name, table_name=table)
