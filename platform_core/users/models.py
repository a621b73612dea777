"""Users and roles, in the tenant's schema: the same email is a different account in each tenant."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ARRAY, Boolean, DateTime, ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_core.db.base import IdMixin, TenantBase, TimestampMixin


class Role(IdMixin, TimestampMixin, TenantBase):
    """A named set of permissions: the four built-in roles, plus the tenant's custom ones."""

    __tablename__ = "role"

    name: Mapped[str] = mapped_column(String(50), nullable=False, unique=True)
    description: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    # For built-in roles the code's catalogue is the truth (auth.permissions.BUILTIN_ROLES); the
    # column keeps a copy so the database alone tells what a role held.
    permissions: Mapped[list[str]] = mapped_column(ARRAY(String(50)), nullable=False, default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False, server_default=false())


class User(IdMixin, TimestampMixin, TenantBase):
    """A member of the tenant who can sign in; emails are stored lower-cased."""

    __tablename__ = "user_account"

    email: Mapped[str] = mapped_column(String(320), nullable=False, unique=True)
    full_name: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Role.id, ondelete="RESTRICT"), index=True)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True, server_default="true")
    email_verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    password_changed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    role: Mapped[Role] = relationship(lazy="raise")
