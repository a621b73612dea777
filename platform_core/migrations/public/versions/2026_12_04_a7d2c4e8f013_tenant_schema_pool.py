"""tenant schema pool

Revision ID: a7d2c4e8f013
Revises: 5b7c0e2f9a11
Create Date: 2026-12-04 12:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d2c4e8f013"
down_revision: str | Sequence[str] | None = "5b7c0e2f9a11"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "tenant_schema_pool",
        sa.Column("revision", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_schema_pool")),
        schema="public",
    )
    op.create_index(
        "ix_tenant_schema_pool_revision",
        "tenant_schema_pool",
        ["revision", "created_at"],
        unique=False,
        schema="public",
    )


def downgrade() -> None:
    """Revert this revision (the pooled schemas themselves are dropped too: they hold no data)."""
    op.execute(
        "DO $$ DECLARE r record; BEGIN FOR r IN SELECT id FROM public.tenant_schema_pool LOOP "
        "EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', 't_' || replace(r.id::text, '-', '')); "
        "END LOOP; END $$"
    )
    op.drop_index("ix_tenant_schema_pool_revision", table_name="tenant_schema_pool", schema="public")
    op.drop_table("tenant_schema_pool", schema="public")
