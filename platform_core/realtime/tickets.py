"""Connection tickets: short-lived, single-use, bound to a tenant and a principal.

A client asks for one over the authenticated API and puts it in the WebSocket URL, so no access token
or API key ever appears in a URL (proxy logs, browser history). Only the ticket's SHA-256 is stored
(`rt:ticket:<hash>`, with the TTL); the first connection that shows it claims it with GETDEL, so two
connections racing with one ticket get one connection.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import uuid
from dataclasses import asdict, dataclass

from redis.asyncio import Redis

from platform_core.access.principal import Principal, PrincipalKind

KEY_PREFIX = "rt:ticket:"


@dataclass(frozen=True, slots=True)
class TicketClaims:
    """Who a ticket was issued to: enough to load the principal again, as it is now, on each use."""

    tenant_id: str
    kind: str
    user_id: str
    session_id: str | None = None
    api_key_hash: str | None = None

    @classmethod
    def of(cls, principal: Principal, *, api_key_hash: str | None) -> TicketClaims:
        """The claims of a principal (an API key's by the hash of its secret)."""
        return cls(
            tenant_id=str(principal.tenant_id),
            kind=principal.kind.value,
            user_id=str(principal.user_id),
            session_id=str(principal.session_id) if principal.session_id else None,
            api_key_hash=api_key_hash if principal.kind is PrincipalKind.API_KEY else None,
        )

    @property
    def user_uuid(self) -> uuid.UUID:
        """The user the principal is (or acts for)."""
        return uuid.UUID(self.user_id)


def _key(ticket: str) -> str:
    return KEY_PREFIX + hashlib.sha256(ticket.encode()).hexdigest()


async def issue(redis: Redis, claims: TicketClaims, *, ttl_seconds: int) -> str:
    """Store a new ticket for `claims`; the ticket (shown once)."""
    ticket = "rtk_" + secrets.token_urlsafe(32)
    await redis.set(_key(ticket), json.dumps(asdict(claims)), ex=ttl_seconds)
    return ticket


async def claim(redis: Redis, ticket: str) -> TicketClaims | None:
    """Spend a ticket: its claims, or None when it is unknown, spent or expired."""
    if not ticket or len(ticket) > 200:
        return None
    raw = await redis.getdel(_key(ticket))
    if raw is None:
        return None
    try:
        return TicketClaims(**json.loads(raw))
    except (TypeError, ValueError):
        return None
