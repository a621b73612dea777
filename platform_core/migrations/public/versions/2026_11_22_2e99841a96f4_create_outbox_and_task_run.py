"""create outbox and task run

Revision ID: 2e99841a96f4
Revises: 6a084372887f
Create Date: 2026-11-22 00:16:55.023480
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "2e99841a96f4"
down_revision: str | Sequence[str] | None = "6a084372887f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "outbox",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("kwargs", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column(
            "available_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        schema="public",
    )
    op.create_index(
        "ix_outbox_pending",
        "outbox",
        ["available_at"],
        unique=False,
        schema="public",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.create_index("ix_outbox_published_at", "outbox", ["published_at"], unique=False, schema="public")
    op.create_index(op.f("ix_outbox_tenant_id"), "outbox", ["tenant_id"], unique=False, schema="public")
    op.create_table(
        "task_run",
        sa.Column("task_id", sa.String(length=64), nullable=False),
        sa.Column("task_name", sa.String(length=200), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_task_run")),
        schema="public",
    )
    op.create_index(
        op.f("ix_task_run_finished_at"), "task_run", ["finished_at"], unique=False, schema="public"
    )
    op.drop_constraint(op.f("fk_tenant_domain_tenant_id_tenant"), "tenant_domain", type_="foreignkey")
    op.create_foreign_key(
        op.f("fk_tenant_domain_tenant_id_tenant"),
        "tenant_domain",
        "tenant",
        ["tenant_id"],
        ["id"],
        source_schema="public",
        referent_schema="public",
        ondelete="CASCADE",
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_constraint(
        op.f("fk_tenant_domain_tenant_id_tenant"), "tenant_domain", schema="public", type_="foreignkey"
    )
    op.create_foreign_key(
        op.f("fk_tenant_domain_tenant_id_tenant"),
        "tenant_domain",
        "tenant",
        ["tenant_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_index(op.f("ix_task_run_finished_at"), table_name="task_run", schema="public")
    op.drop_table("task_run", schema="public")
    op.drop_index(op.f("ix_outbox_tenant_id"), table_name="outbox", schema="public")
    op.drop_index("ix_outbox_published_at", table_name="outbox", schema="public")
    op.drop_index(
        "ix_outbox_pending",
        table_name="outbox",
        schema="public",
        postgresql_where=sa.text("published_at IS NULL"),
    )
    op.drop_table("outbox", schema="public")
