"""create item

Revision ID: b5a83fc9398b
Revises:
Create Date: 2026-11-21 23:57:24.940914
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "b5a83fc9398b"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "item",
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("tags", postgresql.ARRAY(sa.String(length=50)), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('open', 'in_progress', 'done')", name=op.f("ck_item_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_item")),
    )
    op.create_index(
        "ix_item_live_created", "item", ["created_at"], unique=False, postgresql_where="deleted_at IS NULL"
    )
    op.create_index("ix_item_tags", "item", ["tags"], unique=False, postgresql_using="gin")


def downgrade() -> None:
    """Revert this revision."""
    op.drop_index("ix_item_tags", table_name="item", postgresql_using="gin")
    op.drop_index("ix_item_live_created", table_name="item", postgresql_where="deleted_at IS NULL")
    op.drop_table("item")
