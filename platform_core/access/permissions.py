"""Named permissions and the built-in roles that group them."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any


class Permission(StrEnum):
    """Everything a route can require. Custom roles hold any subset."""

    ITEMS_READ = "items:read"
    ITEMS_WRITE = "items:write"
    MEMBERS_READ = "members:read"
    MEMBERS_MANAGE = "members:manage"
    ROLES_MANAGE = "roles:manage"
    API_KEYS_MANAGE = "api_keys:manage"
    BILLING_READ = "billing:read"
    BILLING_MANAGE = "billing:manage"
    UPLOADS_READ = "uploads:read"
    UPLOADS_WRITE = "uploads:write"
    REPORTS_RUN = "reports:run"
    JOBS_READ = "jobs:read"
    AUDIT_READ = "audit:read"
    TENANT_SETTINGS = "tenant:settings"
    WEBHOOKS_MANAGE = "webhooks:manage"
    CHAT_READ = "chat:read"
    CHAT_WRITE = "chat:write"


ALL = frozenset(Permission)
_NAMES = frozenset(p.value for p in Permission)
_READS = frozenset(
    {
        Permission.ITEMS_READ,
        Permission.UPLOADS_READ,
        Permission.MEMBERS_READ,
        Permission.JOBS_READ,
        Permission.CHAT_READ,
    }
)

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    "owner": ALL,
    "admin": ALL - {Permission.BILLING_MANAGE},
    "member": _READS
    | {
        Permission.ITEMS_WRITE,
        Permission.UPLOADS_WRITE,
        Permission.REPORTS_RUN,
        Permission.BILLING_READ,
        Permission.CHAT_WRITE,
    },
    "viewer": _READS,
}


def parse_permissions(values: list[str]) -> frozenset[Permission]:
    """Turn names into permissions; ValueError naming the first unknown one."""
    result = set()
    for value in values:
        try:
            result.add(Permission(value))
        except ValueError as exc:
            raise ValueError(f"unknown permission {value!r}") from exc
    return frozenset(result)


ROLE_DESCRIPTIONS = {
    "owner": "Everything, including billing; a tenant always keeps at least one owner.",
    "admin": "Everything except billing.",
    "member": "Works with items, uploads and reports; reads members and billing.",
    "viewer": "Reads items, uploads, members and jobs.",
}
_ROLE_NAMESPACE = uuid.UUID("6f1f8a52-2d0e-4c3a-9a8e-0b7c4f6d2e10")


def builtin_role_id(name: str) -> uuid.UUID:
    """The id of a built-in role: the same in every tenant, so code can name it without a query."""
    return uuid.uuid5(_ROLE_NAMESPACE, name)


def builtin_role_rows() -> list[dict[str, Any]]:
    """The built-in roles as rows of the `role` table (migrations and provisioning insert these)."""
    return [
        {
            "id": builtin_role_id(name),
            "name": name,
            "description": ROLE_DESCRIPTIONS[name],
            "permissions": sorted(permissions),
            "builtin": True,
        }
        for name, permissions in BUILTIN_ROLES.items()
    ]


def role_permissions(name: str, builtin: bool, stored: list[str]) -> frozenset[Permission]:
    """What a role grants: the code's catalogue for built-in roles, the stored list for custom ones."""
    if builtin and name in BUILTIN_ROLES:
        return BUILTIN_ROLES[name]
    return known_permissions(stored)


def known_permissions(values: list[str]) -> frozenset[Permission]:
    """The stored names that still name a permission (one removed from the code grants nothing)."""
    return frozenset(Permission(v) for v in values if v in _NAMES)
