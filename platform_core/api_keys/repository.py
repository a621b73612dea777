"""All API key queries. The session is bound to one tenant's schema; no query here names a schema."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import ApiKey
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import fetch_page, get_by_id, insert


async def list_page(session: AsyncSession, *, paging: PageParams) -> tuple[list[ApiKey], int]:
    """One page of keys, newest first, and the total, in one round trip."""
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc(), ApiKey.id.desc())
    return await fetch_page(session, stmt, paging=paging)


async def get(session: AsyncSession, *, key_id: uuid.UUID) -> ApiKey | None:
    """A key by id."""
    return await get_by_id(session, ApiKey, key_id)


async def create(session: AsyncSession, *, key: ApiKey) -> ApiKey:
    """Insert a new key now, with its timestamps read back."""
    return await insert(session, key)


async def revoke(session: AsyncSession, *, key_id: uuid.UUID, at: datetime) -> datetime | None:
    """Revoke a key unless it already is; the revocation time if this call revoked it, else None."""
    stmt = (
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
        .returning(ApiKey.revoked_at)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
