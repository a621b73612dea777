"""What the API shows of the tenant's members, and how a member's role is changed."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from platform_core.access.models import User
from platform_core.kernel.paging import Page


class MemberRead(BaseModel):
    """A member of the tenant."""

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    role_id: uuid.UUID
    is_active: bool
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None


class MemberPage(Page[MemberRead]):
    """One page of members."""


class MemberUpdate(BaseModel):
    """A new role for a member, by role name."""

    model_config = ConfigDict(extra="forbid")

    role: str = Field(min_length=1, max_length=50)


def member_read(user: User) -> MemberRead:
    """Render a user (with their role loaded) as a member."""
    return MemberRead(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role.name,
        role_id=user.role_id,
        is_active=user.is_active,
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )
