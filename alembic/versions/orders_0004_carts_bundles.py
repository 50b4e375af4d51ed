"""chat carts, bundle order lines, abandoned-checkout recovery

Revision ID: orders_0004
Revises: orders_0003
"""

import sqlalchemy as sa

from alembic import op

revision = "orders_0004"
down_revision = "orders_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "carts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.String(length=128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id"),
    )
    op.create_table(
        "cart_lines",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cart_id", sa.Integer(), nullable=False),
        sa.Column("item", sa.String(length=200), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["cart_id"], ["carts.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("cart_id", "item", name="uq_cart_line_item"),
    )
    with op.batch_alter_table("cart_lines") as batch_op:
        batch_op.create_index(batch_op.f("ix_cart_lines_cart_id"), ["cart_id"])
    with op.batch_alter_table("order_items") as batch_op:
        batch_op.alter_column("product_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column(
            "sku", existing_type=sa.String(length=40), type_=sa.String(length=200)
        )
        batch_op.add_column(sa.Column("components", sa.JSON(), nullable=True))
    with op.batch_alter_table("orders") as batch_op:
        batch_op.add_column(sa.Column("recovery_url", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("recovered_from_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_orders_recovered_from_id", "orders", ["recovered_from_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("orders") as batch_op:
        batch_op.drop_constraint("fk_orders_recovered_from_id", type_="foreignkey")
        batch_op.drop_column("recovered_from_id")
        batch_op.drop_column("recovery_url")
    op.execute("DELETE FROM order_items WHERE product_id IS NULL")
    with op.batch_alter_table("order_items") as batch_op:
        batch_op.drop_column("components")
        batch_op.alter_column(
            "sku", existing_type=sa.String(length=200), type_=sa.String(length=40)
        )
        batch_op.alter_column("product_id", existing_type=sa.Integer(), nullable=False)
    with op.batch_alter_table("cart_lines") as batch_op:
        batch_op.drop_index(batch_op.f("ix_cart_lines_cart_id"))
    op.drop_table("cart_lines")
    op.drop_table("carts")
