"""The identity tables every gate reads, in the tenant's schema: users and roles, sign-in state
(refresh tokens by family, single-use emailed links), API keys, and invitations (pending members).

The same email is a different account in each tenant. The access layer owns these tables because the
principal query reads them, and because a seat of the plan is a user or an open invitation (counted
by sign-up, invitations and billing alike); the domains above (users, members, roles, auth, api_keys,
invitations) manage them through their own repositories.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import ARRAY, Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, false, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_core.access.permissions import builtin_role_rows
from platform_core.kernel.db.base import INITIAL_ROWS, IdMixin, TenantBase, TimestampMixin


class Role(IdMixin, TimestampMixin, TenantBase):
    """A named set of permissions: the four built-in roles, plus the tenant's custom ones."""

    __tablename__ = "role"
    __table_args__ = {"info": {INITIAL_ROWS: builtin_role_rows}}  # every schema starts with them

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


class RefreshToken(IdMixin, TenantBase):
    """One refresh token of a sign-in session (a family); stored as its SHA-256, used once."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_family_id", "family_id"),)

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    family_id: Mapped[uuid.UUID] = mapped_column(nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(300))


class LinkPurpose(StrEnum):
    """What a single-use emailed link does."""

    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a secret
    SET_PASSWORD = "set_password"  # noqa: S105 - a purpose, not a secret


class OneTimeToken(IdMixin, TenantBase):
    """A single-use, expiring token sent by email (verification, password reset or first password)."""

    __tablename__ = "one_time_token"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_email', 'reset_password', 'set_password')", name="purpose"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(User.id, ondelete="CASCADE"), index=True)
    purpose: Mapped[str] = mapped_column(String(20), nullable=False)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), nullable=False
    )
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


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


class Invitation(IdMixin, TimestampMixin, TenantBase):
    """An emailed, single-use, expiring invitation to become a member with a role: a pending member,
    holding a seat until it is accepted, revoked or expired."""

    __tablename__ = "invitation"
    __table_args__ = (
        # One open invitation per address (expired ones are closed when a new one is sent).
        Index(
            "uq_invitation_email_open",
            "email",
            unique=True,
            postgresql_where=text("accepted_at IS NULL AND revoked_at IS NULL"),
        ),
    )

    email: Mapped[str] = mapped_column(String(320), nullable=False)
    role_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(Role.id, ondelete="RESTRICT"), index=True)
    invited_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey(User.id, ondelete="SET NULL"))
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    accepted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    role: Mapped[Role] = relationship(lazy="raise")
