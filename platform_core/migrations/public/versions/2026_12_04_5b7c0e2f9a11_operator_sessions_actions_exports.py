"""operator session generation, operator actions and tenant exports

Revision ID: 5b7c0e2f9a11
Revises: 8c1f4e27d0b3
Create Date: 2026-12-04 08:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "5b7c0e2f9a11"
down_revision: str | Sequence[str] | None = "8c1f4e27d0b3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.add_column(
        "operator",
        sa.Column("session_generation", sa.Integer(), server_default="0", nullable=False),
        schema="public",
    )
    op.create_table(
        "operator_action",
        sa.Column("occurred_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("operator_id", sa.Uuid(), nullable=True),
        sa.Column("actor_label", sa.String(length=320), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=32), nullable=True),
        sa.Column("target_id", sa.String(length=255), nullable=True),
        sa.Column("details", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_operator_action")),
        schema="public",
    )
    op.create_index(
        "ix_operator_action_occurred_at", "operator_action", ["occurred_at"], unique=False, schema="public"
    )
    op.create_table(
        "tenant_export",
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("requested_by", sa.String(length=320), nullable=True),
        sa.Column(
            "requested_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("with_files", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("object_key", sa.String(length=512), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("rows", sa.Integer(), nullable=True),
        sa.Column("files", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["public.tenant.id"],
            name=op.f("fk_tenant_export_tenant_id_tenant"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tenant_export")),
        schema="public",
    )
    op.create_index(
        op.f("ix_tenant_export_tenant_id"), "tenant_export", ["tenant_id"], unique=False, schema="public"
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index(op.f("ix_tenant_export_tenant_id"), table_name="tenant_export", schema="public")
    op.drop_table("tenant_export", schema="public")
    op.drop_index("ix_operator_action_occurred_at", table_name="operator_action", schema="public")
    op.drop_table("operator_action", schema="public")
    op.drop_column("operator", "session_generation", schema="public")
