"""Uploads: files a tenant stores in the object storage, one row per file in its schema."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.access.models import User
from platform_core.kernel.db.base import IdMixin, TenantBase, TimestampMixin


class UploadStatus(StrEnum):
    """Stored states: a pending upload holds a reservation of quota until its link expires."""

    PENDING = "pending"
    STORED = "stored"


class Upload(IdMixin, TimestampMixin, TenantBase):
    """One file: its object key (under the tenant's prefix), declared and then verified size."""

    __tablename__ = "upload"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'stored')", name="status"),
        CheckConstraint("size_bytes >= 0", name="size_bytes"),
        Index("ix_upload_created_at", "created_at"),
        # Usage sums and the cleanup read by status and expiry.
        Index("ix_upload_status_expires_at", "status", "expires_at"),
    )

    filename: Mapped[str] = mapped_column(String(255), nullable=False)
    content_type: Mapped[str] = mapped_column(String(255), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    key: Mapped[str] = mapped_column(String(1024), nullable=False)
    status: Mapped[str] = mapped_column(String(20), nullable=False, default=UploadStatus.PENDING.value)
    # When the upload link expires: a pending upload stops counting against the quota then.
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    stored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    uploaded_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey(User.id, ondelete="SET NULL"), index=True
    )
