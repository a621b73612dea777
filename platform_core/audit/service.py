"""Recording audit events. Callers pass who acted; the request's IP and id come from the context."""

from __future__ import annotations

import uuid
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.actor import Actor
from platform_core.audit import repository as audit_repository
from platform_core.audit.models import AuditEvent
from platform_core.audit.schemas import AuditEventFilter
from platform_core.kernel.paging import PageParams


class AuditAction(StrEnum):
    """Every action the audit log records."""

    SIGN_IN = "auth.sign_in"
    SIGN_IN_FAILED = "auth.sign_in_failed"
    SIGN_OUT = "auth.sign_out"
    SIGN_OUT_EVERYWHERE = "auth.sign_out_everywhere"
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
    TENANT_DELETED = "tenant.deleted"
    TENANT_RESTORED = "tenant.restored"
    TENANT_EXPORT_REQUESTED = "tenant.export_requested"
    WEBHOOK_ENDPOINT_CREATED = "webhook.endpoint_created"
    WEBHOOK_ENDPOINT_UPDATED = "webhook.endpoint_updated"
    WEBHOOK_ENDPOINT_DELETED = "webhook.endpoint_deleted"
    WEBHOOK_SECRET_ROTATED = "webhook.secret_rotated"  # noqa: S105 - an action name
    WEBHOOK_REDELIVERED = "webhook.redelivered"
    WEBHOOK_REPLAYED = "webhook.replayed"
    WEBHOOK_ENDPOINT_DISABLED = "webhook.endpoint_disabled"


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
    await audit_repository.insert_event(
        session, action=action, actor=actor, target_type=target_type, target_id=target_id, details=details
    )


async def list_events(
    session: AsyncSession, *, flt: AuditEventFilter, paging: PageParams
) -> tuple[list[AuditEvent], int]:
    """One page of the tenant's audit events, newest first, and the total matching."""
    return await audit_repository.list_page(session, flt=flt, paging=paging)
