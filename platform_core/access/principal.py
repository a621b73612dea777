"""Who is calling: a user with an access token, or an API key. Resolved with one indexed query.

The access token is verified without the database (signature, expiry, tenant audience); the single
query then checks what a token cannot know by itself: that the user still exists and is active, what
their role grants now, and that their sign-in session was not revoked (logout, password change, reuse
of a refresh token). Removing a member or revoking a session therefore takes effect at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access import repository as access_repository
from platform_core.access.actor import Actor, ActorType
from platform_core.access.cache import PRINCIPALS
from platform_core.access.permissions import Permission, known_permissions, role_permissions
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import Unauthorized
from platform_core.kernel.security.tokens import (
    InvalidToken,
    SigningKeys,
    VerifiedTokenCache,
    hash_opaque_token,
    tenant_audience,
)
from platform_core.kernel.tenancy import get_tenant, get_tenant_session

API_KEY_PREFIX = "pk_"
SCOPE_KEY = "platform.principal"
_LAST_USED_RESOLUTION = timedelta(minutes=5)
# Clients send the same access token for its whole life: verify its signature once per process.
VERIFIED = VerifiedTokenCache()

# A session, or how to open one: the principal functions open it only when their cache misses, so a
# request answered from the caches (most are) opens no session and its unit of work has nothing to do.
SessionSource = AsyncSession | Callable[[], Awaitable[AsyncSession]]


async def _session(source: SessionSource) -> AsyncSession:
    return source if isinstance(source, AsyncSession) else await source()


class NotAuthenticated(Unauthorized):
    """No credentials were sent."""

    code = "not_authenticated"
    message = "Send an access token or API key as `Authorization: Bearer <token>`."


class InvalidApiKey(Unauthorized):
    """The API key is unknown, revoked or expired."""

    code = "invalid_api_key"
    message = "The API key is invalid, revoked or expired."


class PrincipalKind(StrEnum):
    """How the caller authenticated."""

    USER = "user"
    API_KEY = "api_key"


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller of a tenant request and what it may do."""

    kind: PrincipalKind
    user_id: uuid.UUID
    email: str
    permissions: frozenset[Permission]
    role: str
    tenant_id: uuid.UUID
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    api_key_name: str | None = None
    ip: str | None = None

    def can(self, permission: Permission) -> bool:
        """Whether the caller holds `permission`."""
        return permission in self.permissions

    @property
    def actor(self) -> Actor:
        """The principal as the audit log records it."""
        if self.kind is PrincipalKind.API_KEY:
            return Actor(ActorType.API_KEY, self.api_key_id, self.api_key_name, self.ip)
        return Actor(ActorType.USER, self.user_id, self.email, self.ip)


def client_ip(request: Request) -> str | None:
    """The client's address (uvicorn applies X-Forwarded-For from trusted proxies)."""
    return request.client.host if request.client else None


def bearer_token(request: Request) -> str | None:
    """The token of an `Authorization: Bearer` header, if any."""
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("The Authorization header must be `Bearer <token>`.")
    return token.strip()


async def authenticate(request: Request) -> Principal:
    """The request's principal (cached on the request); 401 when absent or invalid."""
    cached = request.scope.get(SCOPE_KEY)
    if cached is not None:
        return cached
    tenant = await get_tenant(request)  # the host is checked first: unknown hosts are 404
    token = bearer_token(request)
    if token is None:
        raise NotAuthenticated

    def session() -> Awaitable[AsyncSession]:
        return get_tenant_session(request)

    ip = client_ip(request)
    if token.startswith(API_KEY_PREFIX):
        principal = await principal_from_api_key(session, token, tenant, ip=ip)
    else:
        keys: SigningKeys = request.app.state.signing_keys
        principal = await principal_from_access_token(session, keys, tenant, token, ip=ip)
    request.scope[SCOPE_KEY] = principal
    return principal


async def principal_from_access_token(
    session: SessionSource,
    keys: SigningKeys,
    tenant: TenantContext,
    token: str,
    *,
    ip: str | None,
    audience: str | None = None,
) -> Principal:
    """Verify an access token for this tenant and load its user, role and session state.

    `audience` is the API's (`tenant:<id>`) unless given: the console's session cookie carries a token
    of its own audience, so it is never accepted as a bearer token, nor a bearer token as a cookie.
    """
    claims = VERIFIED.decode(keys, token, audience=audience or tenant_audience(tenant.id))
    try:
        user_id = uuid.UUID(claims.subject)
        session_id = uuid.UUID(str(claims.extra["sid"]))
    except (ValueError, KeyError) as exc:
        raise InvalidToken from exc
    return await principal_of_session(session, tenant, user_id, session_id, ip=ip)


async def principal_of_session(
    session: SessionSource,
    tenant: TenantContext,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    ip: str | None,
) -> Principal:
    """The principal of a user's sign-in session as it is now (401 when the user or session is gone).

    For callers that verified the user earlier (a realtime connection re-checks its principal with it).
    """
    cache_key = ("user", tenant.id, user_id, session_id)
    row = PRINCIPALS.get(cache_key)
    if row is None:
        generation = PRINCIPALS.generation(tenant.id)
        row = await access_repository.user_state(
            await _session(session), user_id=user_id, session_id=session_id
        )
        if row is None:
            raise InvalidToken
        PRINCIPALS.put(tenant.id, cache_key, row, generation)
    email, role, builtin, stored = row
    return Principal(
        kind=PrincipalKind.USER,
        user_id=user_id,
        email=email,
        permissions=role_permissions(role, builtin, stored),
        role=role,
        tenant_id=tenant.id,
        session_id=session_id,
        ip=ip,
    )


async def principal_from_api_key(
    session: SessionSource, token: str, tenant: TenantContext, *, ip: str | None
) -> Principal:
    """Load an API key by its hash; it holds its scopes, within what its creator holds today."""
    return await principal_of_api_key_hash(session, hash_opaque_token(token), tenant, ip=ip)


async def principal_of_api_key_hash(
    session: SessionSource, secret_hash: str, tenant: TenantContext, *, ip: str | None
) -> Principal:
    """The principal of the API key with this secret hash as it is now (401 when revoked or expired)."""
    cache_key = ("api_key", tenant.id, secret_hash)
    row = PRINCIPALS.get(cache_key)
    now = utcnow()
    if row is None:
        generation = PRINCIPALS.generation(tenant.id)
        opened = await _session(session)
        row = await access_repository.api_key_state(opened, secret_hash=secret_hash)
        if row is None:
            raise InvalidApiKey
        if row[5] is None or now - row[5] > _LAST_USED_RESOLUTION:  # last_used_at, kept coarse
            await access_repository.touch_api_key(opened, key_id=row[0], at=now)
        PRINCIPALS.put(tenant.id, cache_key, row, generation)
    key_id, name, scopes, expires_at, revoked_at, _last_used, user_id, email, role, builtin, stored = row
    if revoked_at is not None or (expires_at is not None and expires_at <= now):
        raise InvalidApiKey
    granted = role_permissions(role, builtin, stored)
    scoped = known_permissions(scopes)
    return Principal(
        kind=PrincipalKind.API_KEY,
        user_id=user_id,
        email=email,
        permissions=scoped & granted,
        role=role,
        tenant_id=tenant.id,
        api_key_id=key_id,
        api_key_name=name,
        ip=ip,
    )
