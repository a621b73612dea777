"""Reading and changing the tenant's own settings."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.tenant_settings.models import TenantSettings


async def get(session: AsyncSession) -> TenantSettings:
    """The tenant's settings (defaults when never changed; not added to the session)."""
    row = await session.get(TenantSettings, 1)
    return row if row is not None else TenantSettings(id=1, allow_signup=False)


async def get_for_update(session: AsyncSession) -> TenantSettings:
    """The settings row, locked, created with the defaults if missing."""
    row = await session.get(TenantSettings, 1, with_for_update=True)
    if row is None:
        row = TenantSettings(id=1, allow_signup=False)
        session.add(row)
        await session.flush()
    return row
