"""Platform operators, in `public`: they run the platform and belong to no tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, DateTime, Index, Integer, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import IdMixin, PublicBase, TimestampMixin


class Operator(IdMixin, TimestampMixin, PublicBase):
    """An operator account for the operator API on the reserved admin host and the CLI."""

    __tablename__ = "operator"

    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    password_hash: Mapped[str] = mapped_column(String(200), nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Bumped by signing out of the operator console: every console session of an older one ends.
    session_generation: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")


class OperatorAction(IdMixin, PublicBase):
    """What an operator (or `platformctl`) did, in the platform's own log: tenant changes (also in the
    tenant's audit log, which a purge drops) and platform-wide ones such as replaying Stripe events."""

    __tablename__ = "operator_action"
    __table_args__ = (Index("ix_operator_action_occurred_at", "occurred_at"),)

    occurred_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    operator_id: Mapped[uuid.UUID | None] = mapped_column()
    actor_label: Mapped[str | None] = mapped_column(String(320))
    ip: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), nullable=False)
    target_type: Mapped[str | None] = mapped_column(String(32))
    target_id: Mapped[str | None] = mapped_column(String(255))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, nullable=False, default=dict)
