"""API key rules: a key holds a subset of its creator's permissions; its secret is shown once.

Services never commit: the request does, once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.cache import auth_changed
from platform_core.access.models import ApiKey
from platform_core.access.permissions import Permission
from platform_core.access.principal import API_KEY_PREFIX, Principal
from platform_core.api_keys import repository as api_key_repository
from platform_core.api_keys.exceptions import InvalidExpiry, UnknownPermission
from platform_core.api_keys.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPage, api_key_read
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.paging import PageParams
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.members import service as member_service

MAX_LIFETIME = timedelta(days=2 * 365)
DISPLAY_PREFIX_LENGTH = 12
_KNOWN = {p.value: p for p in Permission}


def parse_scopes(names: list[str]) -> frozenset[Permission]:
    """Turn scope names into permissions; 422 naming the first unknown one."""
    for name in names:
        if name not in _KNOWN:
            raise UnknownPermission(f"Unknown permission `{name}`.", details={"permission": name})
    return frozenset(_KNOWN[name] for name in names)


def check_expiry(expires_at: datetime | None, *, now: datetime) -> None:
    """Refuse an expiry in the past or more than two years ahead."""
    if expires_at is None:
        return
    if expires_at <= now:
        raise InvalidExpiry(
            "`expires_at` must be in the future.", details={"expires_at": expires_at.isoformat()}
        )
    if expires_at > now + MAX_LIFETIME:
        raise InvalidExpiry(
            "`expires_at` must be at most two years ahead.", details={"expires_at": expires_at.isoformat()}
        )


async def list_api_keys(session: AsyncSession, paging: PageParams) -> ApiKeyPage:
    """A page of the tenant's API keys, newest first."""
    keys, total = await api_key_repository.list_page(session, paging=paging)
    now = utcnow()
    return ApiKeyPage.of([api_key_read(k, now=now) for k in keys], total, paging)


async def create_api_key(session: AsyncSession, principal: Principal, body: ApiKeyCreate) -> ApiKeyCreated:
    """Create a key acting for the caller's user within `body.scopes`; the secret is returned only here."""
    scopes = parse_scopes(body.scopes)
    now = utcnow()
    check_expiry(body.expires_at, now=now)
    member_service.check_can_grant(principal, scopes)
    secret = API_KEY_PREFIX + new_opaque_token()
    key = ApiKey(
        name=body.name,
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        secret_hash=hash_opaque_token(secret),
        scopes=sorted(p.value for p in scopes),
        # An API key creating a key acts for its own creator, so the new key answers to that user too.
        created_by_id=principal.user_id,
        expires_at=body.expires_at,
    )
    await api_key_repository.create(session, key=key)
    await audit.record(
        session,
        AuditAction.API_KEY_CREATED,
        principal.actor,
        target_type="api_key",
        target_id=key.id,
        details={
            "name": key.name,
            "scopes": key.scopes,
            "expires_at": key.expires_at.isoformat() if key.expires_at else None,
        },
    )
    return ApiKeyCreated(**api_key_read(key, now=now).model_dump(), secret=secret)


async def revoke_api_key(session: AsyncSession, principal: Principal, key: ApiKey) -> None:
    """Revoke a key at once; revoking a revoked key changes nothing and records nothing."""
    revoked_at = await api_key_repository.revoke(session, key_id=key.id, at=utcnow())
    if revoked_at is None:
        return
    await auth_changed(session, principal.tenant_id)
    await audit.record(
        session,
        AuditAction.API_KEY_REVOKED,
        principal.actor,
        target_type="api_key",
        target_id=key.id,
        details={"name": key.name},
    )
