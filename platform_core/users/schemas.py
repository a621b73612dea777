"""What the API shows of users and members."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from platform_core.access.models import User
from platform_core.access.permissions import role_permissions
from platform_core.kernel.paging import Page


class MeRead(BaseModel):
    """The signed-in user's own account."""

    id: uuid.UUID
    email: str
    full_name: str
    role: str
    permissions: list[str]
    email_verified: bool
    created_at: datetime
    last_login_at: datetime | None


class MeUpdate(BaseModel):
    """Fields a user can change on their own account."""

    model_config = ConfigDict(extra="forbid")

    full_name: str | None = Field(default=None, max_length=200)


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


def me_read(user: User) -> MeRead:
    """Render a user (with their role loaded) as their own account."""
    granted = role_permissions(user.role.name, user.role.builtin, user.role.permissions)
    return MeRead(
        id=user.id,
        email=user.email,
        full_name=user.full_name,
        role=user.role.name,
        permissions=sorted(p.value for p in granted),
        email_verified=user.email_verified_at is not None,
        created_at=user.created_at,
        last_login_at=user.last_login_at,
    )


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
