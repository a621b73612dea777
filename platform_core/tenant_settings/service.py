"""Reading and changing the tenant's own settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.audit import service as audit
from platform_core.audit.service import Actor, AuditAction
from platform_core.tenant_settings.models import TenantSettings


async def get(session: AsyncSession) -> TenantSettings:
    """The tenant's settings (defaults when never changed; not added to the session)."""
    row = await session.get(TenantSettings, 1)
    return row if row is not None else TenantSettings(id=1, allow_signup=False)


async def _lock_or_create(session: AsyncSession) -> TenantSettings:
    """The settings row, locked; inserted with the defaults first if missing (safe when concurrent)."""
    await session.execute(pg_insert(TenantSettings).values(id=1, allow_signup=False).on_conflict_do_nothing())
    row = await session.get(TenantSettings, 1, with_for_update=True, populate_existing=True)
    assert row is not None  # inserted above, and the row is never deleted
    return row


async def update(session: AsyncSession, actor: Actor, changes: dict[str, Any]) -> TenantSettings:
    """Apply `changes` (field -> new value); audit what actually changed, and nothing for a no-op."""
    current = await get(session)
    if all(getattr(current, field) == value for field, value in changes.items()):
        return current
    row = await _lock_or_create(session)
    diff: dict[str, Any] = {}
    for field, value in changes.items():
        old = getattr(row, field)
        if old != value:
            diff[field] = {"from": old, "to": value}
            setattr(row, field, value)
    if not diff:  # another request made the same change while we waited for the lock
        return row
    await session.flush()
    await session.refresh(row)
    await audit.record(
        session, AuditAction.SETTINGS_CHANGED, actor, target_type="tenant_settings", details=diff
    )
    return row
