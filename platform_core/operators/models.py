"""Platform operators, in `public`: they run the platform and belong to no tenant."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text, func
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


class TenantExport(IdMixin, PublicBase):
    """An export of a tenant's data that an operator asked for: built by a worker into the object
    storage (`exports/<tenant id>/<export id>.tar.gz`, outside the tenant's own prefix, so it outlives a
    purge), downloaded through a short-lived link."""

    __tablename__ = "tenant_export"

    tenant_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("public.tenant.id", ondelete="CASCADE"), index=True
    )
    requested_by: Mapped[str | None] = mapped_column(String(320))
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    with_files: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default="queued")  # succeeded, failed
    object_key: Mapped[str | None] = mapped_column(String(512))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    rows: Mapped[int | None] = mapped_column(Integer)
    files: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
