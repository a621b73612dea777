"""What the API shows and accepts for roles."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from platform_core.access.models import Role
from platform_core.access.permissions import role_permissions
from platform_core.kernel.paging import Page

_NAME_PATTERN = r"^[a-z][a-z0-9_-]{1,49}$"
_NAME_HELP = "2-50 lowercase letters, digits, - or _, starting with a letter."


class RoleRead(BaseModel):
    """A role and what it grants."""

    id: uuid.UUID
    name: str
    description: str
    permissions: list[str]
    builtin: bool
    created_at: datetime


class RoleCreate(BaseModel):
    """A new custom role."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME_PATTERN, description=_NAME_HELP)
    description: str = Field(default="", max_length=200)
    permissions: list[str] = Field(max_length=100)


class RoleUpdate(BaseModel):
    """Changes to a custom role; omitted fields stay."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, pattern=_NAME_PATTERN, description=_NAME_HELP)
    description: str | None = Field(default=None, max_length=200)
    permissions: list[str] | None = Field(default=None, max_length=100)


class RolePage(Page[RoleRead]):
    """One page of roles: built-in first, then custom roles by name."""


class PermissionRead(BaseModel):
    """One permission of the catalogue."""

    name: str


def role_read(role: Role) -> RoleRead:
    """Render a role with the permissions it grants today."""
    granted = role_permissions(role.name, role.builtin, role.permissions)
    return RoleRead(
        id=role.id,
        name=role.name,
        description=role.description,
        permissions=sorted(p.value for p in granted),
        builtin=role.builtin,
        created_at=role.created_at,
    )
