"""Single-use, expiring tokens sent by email: verification, password reset, first password."""

from __future__ import annotations

from collections.abc import Collection
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.models import LinkPurpose, OneTimeToken, User
from platform_core.auth import repository as auth_repository
from platform_core.auth.exceptions import ExpiredLink, InvalidLink
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.users import repository as user_repository


async def create_link_token(session: AsyncSession, user: User, purpose: LinkPurpose, ttl_hours: int) -> str:
    """Store a new link token (replacing the user's unused ones of this purpose); return it."""
    now = utcnow()
    await auth_repository.spend_unused_links(session, user_id=user.id, purpose=purpose.value, at=now)
    token = new_opaque_token()
    session.add(
        OneTimeToken(
            user_id=user.id,
            purpose=purpose.value,
            token_hash=hash_opaque_token(token),
            expires_at=now + timedelta(hours=ttl_hours),
        )
    )
    await session.flush()
    return token


async def check_link_token(session: AsyncSession, token: str, purposes: Collection[LinkPurpose]) -> User:
    """The user of a link token of one of `purposes` that could still be spent, without spending it
    (a page shows its form first); InvalidLink or ExpiredLink as `consume_link_token` would raise."""
    row = await auth_repository.get_link_token(session, token_hash=hash_opaque_token(token), lock=False)
    if row is None or row.used_at is not None or LinkPurpose(row.purpose) not in purposes:
        raise InvalidLink
    if row.expires_at <= utcnow():
        raise ExpiredLink
    user = await user_repository.get(session, user_id=row.user_id)
    if user is None:
        raise InvalidLink
    return user


async def consume_link_token(session: AsyncSession, token: str, purposes: Collection[LinkPurpose]) -> User:
    """Spend a link token of one of `purposes` and return its user (with their role, locked); 400 when
    invalid, used or expired."""
    row = await auth_repository.get_link_token(session, token_hash=hash_opaque_token(token))
    if row is None or row.used_at is not None or LinkPurpose(row.purpose) not in purposes:
        raise InvalidLink
    if row.expires_at <= utcnow():
        raise ExpiredLink
    row.used_at = utcnow()
    user = await user_repository.get(session, user_id=row.user_id, lock=True)
    if user is None:
        raise InvalidLink
    return user
