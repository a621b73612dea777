"""The tenant's settings row (one row, id 1, in its schema; absent means the defaults)."""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.kernel.repository import get_by_id, write
from platform_core.tenant_settings.models import TenantSettings

ROW_ID = 1


async def get(session: AsyncSession) -> TenantSettings | None:
    """The settings row, if it was ever written."""
    return await get_by_id(session, TenantSettings, ROW_ID)


async def lock_or_create(session: AsyncSession) -> TenantSettings:
    """The settings row, locked; inserted with the defaults first if missing (safe when concurrent)."""
    await session.execute(
        pg_insert(TenantSettings).values(id=ROW_ID, allow_signup=False).on_conflict_do_nothing()
    )
    row = await get_by_id(session, TenantSettings, ROW_ID, lock=True)
    assert row is not None  # inserted above, and the row is never deleted
    return row


async def save(session: AsyncSession, *, row: TenantSettings) -> TenantSettings:
    """Write the settings' pending changes now and read them back."""
    return await write(session, row)
