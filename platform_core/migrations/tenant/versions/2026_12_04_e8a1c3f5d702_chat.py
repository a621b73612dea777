"""chat rooms, members, messages and their pending realtime events

Revision ID: e8a1c3f5d702
Revises: 5e8a1b7c2d94
Create Date: 2026-12-04 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "e8a1c3f5d702"
down_revision: str | Sequence[str] | None = "5e8a1b7c2d94"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Built-in roles and the chat permissions they gain (the code's catalogue, access/permissions.py).
GRANTS = {
    "chat:read": ("owner", "admin", "member", "viewer"),
    "chat:write": ("owner", "admin", "member"),
}


def _role_table() -> sa.Table:
    # A Table, not a lightweight sa.table(): its schema is rendered through the migration's binding.
    return sa.Table(
        "role",
        sa.MetaData(),
        sa.Column("name", sa.String),
        sa.Column("builtin", sa.Boolean),
        sa.Column("permissions", sa.ARRAY(sa.String(length=50))),
    )


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "chat_room",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("topic", sa.String(length=500), server_default="", nullable=False),
        sa.Column("created_by_id", sa.Uuid(), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user_account.id"],
            name=op.f("fk_chat_room_created_by_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_room")),
    )
    op.create_index("ix_chat_room_name", "chat_room", ["name"], unique=False)
    op.create_table(
        "chat_room_member",
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["chat_room.id"],
            name=op.f("fk_chat_room_member_room_id_chat_room"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["user_account.id"],
            name=op.f("fk_chat_room_member_user_id_user_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "user_id", name=op.f("pk_chat_room_member")),
    )
    op.create_index(op.f("ix_chat_room_member_user_id"), "chat_room_member", ["user_id"], unique=False)
    op.create_table(
        "chat_message",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=True),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.CheckConstraint("char_length(body) <= 4000", name=op.f("ck_chat_message_body_length")),
        sa.CheckConstraint(
            "(body IS NULL) = (deleted_at IS NOT NULL)", name=op.f("ck_chat_message_tombstone")
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["user_account.id"],
            name=op.f("fk_chat_message_author_id_user_account"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["chat_room.id"], name=op.f("fk_chat_message_room_id_chat_room"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_message")),
        sa.UniqueConstraint("seq", name=op.f("uq_chat_message_seq")),
    )
    op.create_index("ix_chat_message_room_seq", "chat_message", ["room_id", "seq"], unique=False)
    op.create_table(
        "chat_event",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=True), nullable=False),
        sa.Column("room_id", sa.Uuid(), nullable=False),
        sa.Column("event", sa.String(length=50), nullable=False),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_chat_event")),
    )
    op.create_index("ix_chat_event_room_seq", "chat_event", ["room_id", "seq"], unique=False)
    # Built-in roles take their permissions from the code; keep the stored copy in step with it.
    role = _role_table()
    for permission, roles in GRANTS.items():
        op.execute(
            role.update()
            .where(
                role.c.builtin.is_(True),
                role.c.name.in_(roles),
                sa.not_(sa.literal(permission) == sa.any_(role.c.permissions)),
            )
            .values(permissions=sa.func.array_append(role.c.permissions, permission))
        )


def downgrade() -> None:
    """Revert this revision."""
    role = _role_table()
    for permission in GRANTS:
        op.execute(
            role.update()
            .where(role.c.builtin.is_(True))
            .values(permissions=sa.func.array_remove(role.c.permissions, permission))
        )
    op.drop_index("ix_chat_event_room_seq", table_name="chat_event")
    op.drop_table("chat_event")
    op.drop_index("ix_chat_message_room_seq", table_name="chat_message")
    op.drop_table("chat_message")
    op.drop_index(op.f("ix_chat_room_member_user_id"), table_name="chat_room_member")
    op.drop_table("chat_room_member")
    op.drop_index("ix_chat_room_name", table_name="chat_room")
    op.drop_table("chat_room")
