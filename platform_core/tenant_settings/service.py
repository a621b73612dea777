"""Reading and changing the tenant's own settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.actor import Actor
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.tenant_settings import repository as tenant_settings_repository
from platform_core.tenant_settings.models import TenantSettings


async def get(session: AsyncSession) -> TenantSettings:
    """The tenant's settings (defaults when never changed; not added to the session)."""
    row = await tenant_settings_repository.get(session)
    return (
        row if row is not None else TenantSettings(id=tenant_settings_repository.ROW_ID, allow_signup=False)
    )


async def update(session: AsyncSession, actor: Actor, *, changes: dict[str, Any]) -> TenantSettings:
    """Apply `changes` (field -> new value); audit what actually changed, and nothing for a no-op."""
    current = await get(session)
    if all(getattr(current, field) == value for field, value in changes.items()):
        return current
    row = await tenant_settings_repository.lock_or_create(session)
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        old = getattr(row, field)
        if old != value:
            diff[field] = {"from": old, "to": value}
            setattr(row, field, value)
    if not diff:  # another request made the same change while we waited for the lock
        return row
    await tenant_settings_repository.save(session, row=row)
    await audit.record(
        session, AuditAction.SETTINGS_CHANGED, actor, target_type="tenant_settings", details=diff
    )
    return row
