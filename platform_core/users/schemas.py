"""What the API shows of a user's own account (sign-in answers it too, after verifying an address)."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel

from platform_core.access.models import User
from platform_core.access.permissions import role_permissions


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
