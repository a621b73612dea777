"""The tenant's own settings, one row in its schema (absent = defaults)."""

from __future__ import annotations

from sqlalchemy import Boolean, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from platform_core.kernel.db.base import TenantBase, TimestampMixin


class TenantSettings(TimestampMixin, TenantBase):
    """Settings a tenant admin controls."""

    __tablename__ = "tenant_settings"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, default=1)
    allow_signup: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default="false")
