"""Realtime routes: a connection ticket over the API, and the WebSocket on the tenant host."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import APIRouter, Request, Response
from redis.exceptions import RedisError
from starlette.websockets import WebSocket

from billing.exceptions import SubscriptionInactive
from platform_core.access.dependencies import AccessPolicy, Authenticated
from platform_core.access.permissions import Permission
from platform_core.access.principal import API_KEY_PREFIX, bearer_token
from platform_core.kernel.errors import AppError, raises
from platform_core.kernel.security.tokens import hash_opaque_token
from platform_core.kernel.tenancy import TenantSessionDep, check_tenant_access, get_tenant
from platform_core.realtime import tickets
from platform_core.realtime.connection import (
    CLOSE_FORBIDDEN,
    CLOSE_LIMITED,
    CLOSE_NOT_FOUND,
    CLOSE_TRY_AGAIN,
    CLOSE_UNAUTHORIZED,
    Connection,
    load_principal,
)
from platform_core.realtime.hub import Hub
from platform_core.realtime.schemas import TicketRead

logger = logging.getLogger("platform.realtime")
router = APIRouter(prefix="/api/v1/realtime", tags=["realtime"])
WEBSOCKET_PATH = "/api/v1/realtime"


class _AsRead:
    """The request as the billing policy should judge it: a ticket only lets its holder read."""

    method = "GET"

    def __init__(self, request: Request) -> None:
        self._request = request

    def __getattr__(self, name: str) -> Any:
        return getattr(self._request, name)


@router.post("/tickets", status_code=201, response_model=TicketRead)
@raises(SubscriptionInactive)
async def create_ticket(
    principal: Authenticated, request: Request, response: Response, session: TenantSessionDep
) -> TicketRead:
    """A single-use ticket (valid about 30 s) to open the realtime WebSocket of this workspace."""
    policy: AccessPolicy | None = request.app.state.access_policy
    if policy is not None:  # a workspace whose subscription is inactive gets no live data either
        tenant = await get_tenant(request)
        await policy(_AsRead(request), tenant, Permission.ITEMS_READ)  # type: ignore[arg-type]
    hub: Hub = request.app.state.realtime_hub
    token = bearer_token(request) or ""
    key_hash = hash_opaque_token(token) if token.startswith(API_KEY_PREFIX) else None
    ttl = hub.settings.ticket_ttl_seconds
    ticket = await tickets.issue(
        hub.redis, tickets.TicketClaims.of(principal, api_key_hash=key_hash), ttl_seconds=ttl
    )
    response.headers["Cache-Control"] = "no-store"
    return TicketRead(ticket=ticket, expires_in=ttl)


async def realtime_socket(websocket: WebSocket) -> None:
    """The realtime WebSocket: `?ticket=` from POST /api/v1/realtime/tickets, on the same tenant host."""
    hub: Hub = websocket.app.state.realtime_hub
    ticket = websocket.query_params.get("ticket")
    claims: tickets.TicketClaims | None = None
    redis_down = False
    if ticket:
        try:
            claims = await tickets.claim(hub.redis, ticket)
        except (RedisError, OSError):
            redis_down = True
    # Accepted only once the ticket is spent: the server logs the URL it accepts, ticket included.
    await websocket.accept()
    # Refusals are sent as close codes after the handshake, so that clients can read why.
    try:
        resolution = await websocket.app.state.tenant_resolver.resolve(websocket.headers.get("host"))
        tenant = resolution.tenant
        if tenant is None:
            await websocket.close(CLOSE_NOT_FOUND, "no workspace at this address")
            return
        check_tenant_access(tenant)
    except AppError as exc:
        await websocket.close(
            CLOSE_FORBIDDEN if exc.status_code == 403 else CLOSE_NOT_FOUND, exc.message[:120]
        )
        return
    if not ticket:
        await websocket.close(CLOSE_UNAUTHORIZED, "a ticket is required")
        return
    if redis_down:
        logger.warning("realtime: Redis unavailable; refusing a connection")
        await websocket.close(CLOSE_TRY_AGAIN, "try again later")
        return
    if claims is None:
        await websocket.close(CLOSE_UNAUTHORIZED, "the ticket is unknown, spent or expired")
        return
    if claims.tenant_id != str(tenant.id):
        await websocket.close(CLOSE_FORBIDDEN, "the ticket is for another workspace")
        return
    ip = websocket.client.host if websocket.client else None
    try:
        async with websocket.app.state.db.session(tenant.schema_name) as session:
            principal = await load_principal(session, tenant, claims, ip)
            await session.commit()
    except AppError:
        await websocket.close(CLOSE_UNAUTHORIZED, "the session or key behind the ticket has ended")
        return
    conn = Connection(
        websocket,
        hub=hub,
        db=websocket.app.state.db,
        resolver=websocket.app.state.tenant_resolver,
        tenant=tenant,
        claims=claims,
        principal=principal,
    )
    if hub.refusing:
        await websocket.close(CLOSE_TRY_AGAIN, "the server is shutting down")
        return
    try:
        admitted = await hub.admit(conn)
    except (RedisError, OSError):
        await websocket.close(CLOSE_TRY_AGAIN, "try again later")
        return
    if not admitted:
        await websocket.close(CLOSE_LIMITED, "too many connections for this workspace")
        return
    await conn.run()


class RedactTickets(logging.Filter):
    """Keep tickets out of the server's own log lines (uvicorn logs each WebSocket's URL)."""

    pattern = re.compile(r"ticket=[^&\s\"']+")

    def filter(self, record: logging.LogRecord) -> bool:
        """Blank the ticket in the record's arguments; keep the record."""
        if isinstance(record.args, tuple) and any("ticket=" in str(arg) for arg in record.args):
            record.args = tuple(self.pattern.sub("ticket=…", str(arg)) for arg in record.args)
        return True
