"""Request-scoped context: the tenant a request serves, and ids mirrored into contextvars for logs."""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from enum import StrEnum

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
tenant_slug_var: ContextVar[str | None] = ContextVar("tenant_slug", default=None)
tenant_id_var: ContextVar[str | None] = ContextVar("tenant_id", default=None)


class TenantStatus(StrEnum):
    """Lifecycle states of a tenant."""

    PROVISIONING = "provisioning"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    DELETING = "deleting"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class TenantContext:
    """The tenant a request or task serves: resolved once, passed explicitly."""

    id: uuid.UUID
    slug: str
    schema_name: str
    status: TenantStatus
    suspended_reason: str | None = None
    name: str = ""


def schema_name_for(tenant_id: uuid.UUID) -> str:
    """Derive a tenant's schema from its immutable id, never from its slug."""
    return f"t_{tenant_id.hex}"
