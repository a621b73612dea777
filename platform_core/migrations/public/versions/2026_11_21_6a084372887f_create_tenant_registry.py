"""create tenant registry

Revision ID: 6a084372887f
Revises:
Create Date: 2026-11-21 23:57:19.683586
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6a084372887f"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "tenant",
        sa.Column("slug", sa.String(length=63), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("owner_email", sa.String(length=320), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("purge_after", sa.DateTime(timezone=True), nullable=True),
        sa.Column("schema_revision", sa.String(length=64), nullable=True),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("migration_duration_ms", sa.Integer(), nullable=True),
        sa.Column("migration_error", sa.Text(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant")),
        schema="public",
    )
    op.create_index("ix_tenant_status", "tenant", ["status"], unique=False, schema="public")
    op.create_index(
        "uq_tenant_slug_live",
        "tenant",
        ["slug"],
        unique=True,
        schema="public",
        postgresql_where=sa.text("status <> 'deleted'"),
    )
    op.create_table(
        "tenant_domain",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("verification_token", sa.String(length=64), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenant.id"],
            name=op.f("fk_tenant_domain_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_domain")),
        sa.UniqueConstraint("domain", name=op.f("uq_tenant_domain_domain")),
        schema="public",
    )
    op.create_index(
        op.f("ix_tenant_domain_tenant_id"), "tenant_domain", ["tenant_id"], unique=False, schema="public"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_tenant_domain_tenant_id"), table_name="tenant_domain", schema="public")
    op.drop_table("tenant_domain", schema="public")
    op.drop_index(
        "uq_tenant_slug_live",
        table_name="tenant",
        schema="public",
        postgresql_where=sa.text("status <> 'deleted'"),
    )
    op.drop_index("ix_tenant_status", table_name="tenant", schema="public")
    op.drop_table("tenant", schema="public")
