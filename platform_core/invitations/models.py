"""Invitations to join a tenant, in its schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from platform_core.access.models import Role, User
from platform_core.kernel.db.base import IdMixin, TenantBase, TimestampMixin


class Invitation(IdMixin, TimestampMixin, TenantBase):
    """An emailed, single-use, expiring invitation to become a member with a role."""

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
