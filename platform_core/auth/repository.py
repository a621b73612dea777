"""Sign-in state queries in the request's tenant schema: refresh tokens (by session) and emailed links."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import OneTimeToken, RefreshToken


async def get_refresh_token(session: AsyncSession, *, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, locked (two uses of one token are serialised)."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def revoke_family(session: AsyncSession, *, family_id: uuid.UUID, at: datetime) -> None:
    """Revoke every live refresh token of one session."""
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def revoke_user_sessions(
    session: AsyncSession, *, user_id: uuid.UUID, keep: uuid.UUID | None, at: datetime
) -> None:
    """Revoke every live refresh token of a user, except those of the session `keep`."""
    stmt = update(RefreshToken).where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(RefreshToken.family_id != keep)
    await session.execute(stmt.values(revoked_at=at))


async def spend_unused_links(
    session: AsyncSession, *, user_id: uuid.UUID, purpose: str, at: datetime
) -> None:
    """Mark a user's unused link tokens of one purpose used: a new link replaces them."""
    await session.execute(
        update(OneTimeToken)
        .where(
            OneTimeToken.user_id == user_id, OneTimeToken.purpose == purpose, OneTimeToken.used_at.is_(None)
        )
        .values(used_at=at)
    )


async def get_link_token(session: AsyncSession, *, token_hash: str, lock: bool = True) -> OneTimeToken | None:
    """The link token with this hash, locked unless `lock` is False (a link is spent once; a look that
    spends nothing need not wait for that)."""
    stmt = select(OneTimeToken).where(OneTimeToken.token_hash == token_hash)
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
