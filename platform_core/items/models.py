"""Items: the example tenant domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, DateTime, Index, String, Text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import IdMixin, TenantBase, TimestampMixin


class ItemStatus(StrEnum):
    """Where an item is in its life."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"


class Item(IdMixin, TimestampMixin, TenantBase):
    """A titled, tagged item owned by one tenant."""

    __tablename__ = "item"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'in_progress', 'done')", name="status"),
        Index("ix_item_live_created", "created_at", postgresql_where="deleted_at IS NULL"),
        Index("ix_item_tags", "tags", postgresql_using="gin"),
    )

    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=ItemStatus.OPEN.value)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
