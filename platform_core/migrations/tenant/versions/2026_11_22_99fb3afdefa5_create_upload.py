"""create upload

Revision ID: 99fb3afdefa5
Revises: 005b4b2dbb15
Create Date: 2026-11-22 05:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "99fb3afdefa5"
down_revision: str | Sequence[str] | None = "005b4b2dbb15"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BUILTIN_ROLES = ("owner", "admin", "member", "viewer")
VIEWER_BEFORE = "Reads items, members and jobs."
VIEWER_AFTER = "Reads items, uploads, members and jobs."


def _role_table() -> sa.Table:
    # A Table, not a lightweight sa.table(): SQLAlchemy renders a Table's schema through the migration
    # connection's binding (the tenant's schema), and a lightweight table's not at all.
    return sa.Table(
        "role",
        sa.MetaData(),
        sa.Column("name", sa.String),
        sa.Column("builtin", sa.Boolean),
        sa.Column("permissions", sa.ARRAY(sa.String(length=50))),
        sa.Column("description", sa.String),
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "upload",
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("content_type", sa.String(length=255), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uploaded_by_id", sa.Uuid(), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('pending', 'stored')", name=op.f("ck_upload_status")),
        sa.CheckConstraint("size_bytes >= 0", name=op.f("ck_upload_size_bytes")),
        sa.ForeignKeyConstraint(
            ["uploaded_by_id"],
            ["user_account.id"],
            name=op.f("fk_upload_uploaded_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upload")),
    )
    op.create_index("ix_upload_created_at", "upload", ["created_at"], unique=False)
    op.create_index("ix_upload_status_expires_at", "upload", ["status", "expires_at"], unique=False)
    op.create_index(op.f("ix_upload_uploaded_by_id"), "upload", ["uploaded_by_id"], unique=False)
    # Built-in roles take their permissions from the code; keep the stored copy in step with it
    # (every built-in role reads uploads now).
    role = _role_table()
    builtin = sa.and_(role.c.builtin.is_(True), role.c.name.in_(BUILTIN_ROLES))
    op.execute(
        role.update()
        .where(builtin, sa.not_(sa.literal("uploads:read") == sa.any_(role.c.permissions)))
        .values(permissions=sa.func.array_append(role.c.permissions, "uploads:read"))
    )
    op.execute(
        role.update()
        .where(builtin, role.c.name == "viewer", role.c.description == VIEWER_BEFORE)
        .values(description=VIEWER_AFTER)
    )


def downgrade() -> None:
    """Revert this revision."""
    role = _role_table()
    builtin = sa.and_(role.c.builtin.is_(True), role.c.name.in_(BUILTIN_ROLES))
    without = sa.func.array_remove(role.c.permissions, "uploads:read")
    op.execute(role.update().where(builtin).values(permissions=without))
    op.execute(
        role.update()
        .where(builtin, role.c.name == "viewer", role.c.description == VIEWER_AFTER)
        .values(description=VIEWER_BEFORE)
    )
    op.drop_index(op.f("ix_upload_uploaded_by_id"), table_name="upload")
    op.drop_index("ix_upload_status_expires_at", table_name="upload")
    op.drop_index("ix_upload_created_at", table_name="upload")
    op.drop_table("upload")
