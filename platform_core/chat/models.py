"""Chat rooms, their members, their messages, and the realtime events waiting to be published."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.access.models import User
from platform_core.kernel.db.base import IdMixin, TenantBase, TimestampMixin

MAX_BODY = 4000
MAX_NAME = 100
MAX_TOPIC = 500


class ChatRoom(IdMixin, TimestampMixin, TenantBase):
    """A named room; archived rooms keep their history but take no changes until unarchived."""

    __tablename__ = "chat_room"
    __table_args__ = (Index("ix_chat_room_name", "name"),)

    name: Mapped[str] = mapped_column(String(MAX_NAME), nullable=False)
    topic: Mapped[str] = mapped_column(String(MAX_TOPIC), nullable=False, default="", server_default="")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(User.id, ondelete="SET NULL"))
    archived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatRoomMember(TenantBase):
    """A user's membership of a room: members read and post; a removed user's rows go with them."""

    __tablename__ = "chat_room_member"

    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ChatRoom.id, ondelete="CASCADE"), primary_key=True)
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey(User.id, ondelete="CASCADE"), primary_key=True, index=True
    )
    added_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )


class ChatMessage(IdMixin, TenantBase):
    """A message of a room. `seq` orders the history; a deleted message is a tombstone (no body)."""

    __tablename__ = "chat_message"
    __table_args__ = (
        CheckConstraint(f"char_length(body) <= {MAX_BODY}", name="body_length"),
        CheckConstraint("(body IS NULL) = (deleted_at IS NOT NULL)", name="tombstone"),
        Index("ix_chat_message_room_seq", "room_id", "seq"),
    )

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), unique=True, nullable=False)
    room_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(ChatRoom.id, ondelete="CASCADE"), nullable=False)
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(User.id, ondelete="SET NULL"))
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChatEvent(TenantBase):
    """A realtime event for `chat.<room_id>`, written with the change; a worker publishes, then deletes it."""

    __tablename__ = "chat_event"
    __table_args__ = (Index("ix_chat_event_room_seq", "room_id", "seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    room_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    event: Mapped[str] = mapped_column(String(50), nullable=False)
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
