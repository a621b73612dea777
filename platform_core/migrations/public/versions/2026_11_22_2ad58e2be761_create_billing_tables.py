"""create billing tables

Revision ID: 2ad58e2be761
Revises: 6358e18539f3
Create Date: 2026-11-22 02:55:10.427234
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2ad58e2be761"
down_revision: str | Sequence[str] | None = "6358e18539f3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "billing_plan",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("catalog_version", sa.Integer(), nullable=False),
        sa.Column("stripe_product_id", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_monthly", sa.String(length=255), nullable=True),
        sa.Column("stripe_price_yearly", sa.String(length=255), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_billing_plan")),
        sa.UniqueConstraint("stripe_price_monthly", name=op.f("uq_billing_plan_stripe_price_monthly")),
        sa.UniqueConstraint("stripe_price_yearly", name=op.f("uq_billing_plan_stripe_price_yearly")),
        sa.UniqueConstraint("stripe_product_id", name=op.f("uq_billing_plan_stripe_product_id")),
        schema="public",
    )
    op.create_table(
        "stripe_event",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("created", sa.DateTime(timezone=True), nullable=False),
        sa.Column("livemode", sa.Boolean(), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stripe_event")),
        schema="public",
    )
    op.create_index(
        "ix_stripe_event_status",
        "stripe_event",
        ["status"],
        unique=False,
        schema="public",
        postgresql_where=sa.text("status <> 'processed'"),
    )
    op.create_index("ix_stripe_event_tenant_id", "stripe_event", ["tenant_id"], unique=False, schema="public")
    op.create_table(
        "billing_account",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("stripe_customer_id", sa.String(length=255), nullable=True),
        sa.Column("plan_key", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("stripe_subscription_id", sa.String(length=255), nullable=True),
        sa.Column("interval", sa.String(length=16), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=True),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("trial_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("past_due_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("synced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenant.id"],
            name=op.f("fk_billing_account_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_billing_account")),
        sa.UniqueConstraint("stripe_customer_id", name=op.f("uq_billing_account_stripe_customer_id")),
        sa.UniqueConstraint("stripe_subscription_id", name=op.f("uq_billing_account_stripe_subscription_id")),
        schema="public",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("billing_account", schema="public")
    op.drop_index("ix_stripe_event_tenant_id", table_name="stripe_event", schema="public")
    op.drop_index(
        "ix_stripe_event_status",
        table_name="stripe_event",
        schema="public",
        postgresql_where=sa.text("status <> 'processed'"),
    )
    op.drop_table("stripe_event", schema="public")
    op.drop_table("billing_plan", schema="public")
