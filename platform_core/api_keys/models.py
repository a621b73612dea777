"""API keys for machine access, in the tenant's schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.db.base import IdMixin, TenantBase, TimestampMixin
from platform_core.users.models import User


class ApiKey(IdMixin, TimestampMixin, TenantBase):
    """A bearer secret (stored as its SHA-256) acting for its creator within a subset of their permissions.

    The key dies with its creator (ON DELETE CASCADE): a removed member's keys stop working at once.
    """

    __tablename__ = "api_key"

    name: Mapped[str] = mapped_column(String(100), nullable=False)
    prefix: Mapped[str] = mapped_column(String(16), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    scopes: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    created_by_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
