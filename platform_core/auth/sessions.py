"""Sign-in sessions: an access token plus a refresh-token family that rotates on every use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.cache import auth_changed
from platform_core.access.models import RefreshToken, User
from platform_core.auth import repository as auth_repository
from platform_core.auth.exceptions import InvalidRefreshToken
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.security.tokens import (
    SigningKeys,
    hash_opaque_token,
    issue_access_token,
    new_opaque_token,
    tenant_audience,
)
from platform_core.kernel.settings import Settings


@dataclass(frozen=True, slots=True)
class TokenPair:
    """What a sign-in or refresh returns."""

    access_token: str
    refresh_token: str
    expires_in: int
    session_id: uuid.UUID
    token_type: str = "bearer"  # noqa: S105 - the OAuth2 token type
    user_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class Client:
    """Where a request comes from, for refresh-token records and the audit log."""

    ip: str | None
    user_agent: str | None


class RefreshTokenReused(InvalidRefreshToken):
    """A spent refresh token came back: its whole family is revoked."""

    code = "refresh_token_reused"
    message = "This refresh token was already used; every session it belonged to is signed out."


async def open_session(
    session: AsyncSession,
    settings: Settings,
    keys: SigningKeys,
    tenant: TenantContext,
    user: User,
    client: Client,
    *,
    family_id: uuid.UUID | None = None,
) -> TokenPair:
    """Issue an access token and a refresh token (a new family unless one is continued)."""
    family = family_id or uuid.uuid4()
    refresh = new_opaque_token()
    session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family,
            token_hash=hash_opaque_token(refresh),
            expires_at=utcnow() + timedelta(days=settings.refresh_token_ttl_days),
            ip=client.ip,
            user_agent=(client.user_agent or "")[:300] or None,
        )
    )
    access = issue_access_token(
        keys,
        subject=str(user.id),
        audience=tenant_audience(tenant.id),
        ttl_seconds=settings.access_token_ttl_seconds,
        tid=str(tenant.id),
        sid=str(family),
    )
    return TokenPair(access, refresh, settings.access_token_ttl_seconds, family, user_id=user.id)


async def rotate(session: AsyncSession, token: str, tenant_id: uuid.UUID) -> RefreshToken:
    """Spend a refresh token and return its row; reuse of a spent one revokes its family."""
    row = await auth_repository.get_refresh_token(session, token_hash=hash_opaque_token(token))
    now = utcnow()
    if row is None or row.revoked_at is not None:
        raise InvalidRefreshToken
    if row.used_at is not None:
        await revoke_family(session, tenant_id, row.family_id)
        raise RefreshTokenReused(details={"session_id": str(row.family_id)})
    if row.expires_at <= now:
        raise InvalidRefreshToken
    row.used_at = now
    return row


async def revoke_family(session: AsyncSession, tenant_id: uuid.UUID, family_id: uuid.UUID) -> None:
    """Revoke every refresh token of one session; its access tokens stop working at once too."""
    await auth_changed(session, tenant_id)
    await auth_repository.revoke_family(session, family_id=family_id, at=utcnow())


async def revoke_user_sessions(
    session: AsyncSession, tenant_id: uuid.UUID, user_id: uuid.UUID, *, keep: uuid.UUID | None = None
) -> None:
    """Revoke all of a user's sessions, except `keep` (the one changing the password)."""
    await auth_changed(session, tenant_id)
    await auth_repository.revoke_user_sessions(session, user_id=user_id, keep=keep, at=utcnow())
