"""Named permissions and the built-in roles that group them."""

from __future__ import annotations

from enum import StrEnum


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
    UPLOADS_WRITE = "uploads:write"
    REPORTS_RUN = "reports:run"
    JOBS_READ = "jobs:read"
    WEBHOOKS_MANAGE = "webhooks:manage"
    AUDIT_READ = "audit:read"
    TENANT_SETTINGS = "tenant:settings"


ALL = frozenset(Permission)
_READS = frozenset({Permission.ITEMS_READ, Permission.MEMBERS_READ, Permission.JOBS_READ})

BUILTIN_ROLES: dict[str, frozenset[Permission]] = {
    "owner": ALL,
    "admin": ALL - {Permission.BILLING_MANAGE},
    "member": _READS
    | {Permission.ITEMS_WRITE, Permission.UPLOADS_WRITE, Permission.REPORTS_RUN, Permission.BILLING_READ},
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


def can_grant(granter: frozenset[Permission], wanted: frozenset[Permission]) -> bool:
    """A member can only hand out permissions they hold themselves."""
    return wanted <= granter
