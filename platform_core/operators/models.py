"""Platform operators, in `public`: they run the platform and belong to no tenant."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, DateTime, String
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
