"""Recording audit events. Callers pass who acted; the request's IP and id come from the context."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import Insert, insert
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.audit.models import AuditEvent
from platform_core.kernel.context import request_id_var


class ActorType(StrEnum):
    """Who can act on a tenant."""

    USER = "user"
    API_KEY = "api_key"
    OPERATOR = "operator"
    ANONYMOUS = "anonymous"
    SYSTEM = "system"


class AuditAction(StrEnum):
    """Every action the audit log records."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    REFRESH_REUSE = "auth.refresh_token_reused"
    SIGN_UP = "auth.sign_up"
    EMAIL_VERIFIED = "auth.email_verified"
    PASSWORD_CHANGED = "auth.password_changed"  # noqa: S105 - an action name
    PASSWORD_RESET = "auth.password_reset"  # noqa: S105 - an action name
    PASSWORD_RESET_REQUESTED = "auth.password_reset_requested"  # noqa: S105 - an action name
    VERIFICATION_REQUESTED = "auth.verification_requested"
    PROFILE_UPDATED = "user.profile_updated"
    MEMBER_ROLE_CHANGED = "member.role_changed"
    MEMBER_REMOVED = "member.removed"
    MEMBER_LEFT = "member.left"
    INVITATION_CREATED = "invitation.created"
    INVITATION_RESENT = "invitation.resent"
    INVITATION_REVOKED = "invitation.revoked"
    INVITATION_ACCEPTED = "invitation.accepted"
    ROLE_CREATED = "role.created"
    ROLE_UPDATED = "role.updated"
    ROLE_DELETED = "role.deleted"
    API_KEY_CREATED = "api_key.created"
    API_KEY_REVOKED = "api_key.revoked"
    SETTINGS_CHANGED = "tenant.settings_changed"
    UPLOAD_DELETED = "upload.deleted"
    TENANT_SUSPENDED = "tenant.suspended"
    TENANT_RESUMED = "tenant.resumed"
    OWNER_ADDED = "tenant.owner_added"


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something: its kind, id and a readable label (an email or a key's name)."""

    type: ActorType
    id: uuid.UUID | None = None
    label: str | None = None
    ip: str | None = None


ANONYMOUS = Actor(ActorType.ANONYMOUS)


def event_insert(
    action: AuditAction,
    actor: Actor,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> Insert:
    """The INSERT of one audit event (for a connection bound to the tenant's schema)."""
    return insert(AuditEvent).values(
        id=uuid.uuid4(),
        action=action.value,
        actor_type=actor.type.value,
        actor_id=actor.id,
        actor_label=actor.label,
        target_type=target_type,
        target_id=str(target_id) if target_id is not None else None,
        ip=actor.ip,
        request_id=request_id_var.get(),
        details=details or {},
    )


async def record(
    session: AsyncSession,
    action: AuditAction,
    actor: Actor,
    *,
    target_type: str | None = None,
    target_id: uuid.UUID | str | None = None,
    details: dict[str, Any] | None = None,
) -> None:
    """Append one event in the session's transaction (it is kept only if the transaction commits)."""
    await session.execute(
        event_insert(action, actor, target_type=target_type, target_id=target_id, details=details)
    )
