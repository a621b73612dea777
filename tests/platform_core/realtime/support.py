"""Realtime clients for tests: a ticket over HTTP, then a real WebSocket to an API process."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from platform_core.access.permissions import builtin_role_id
from tests.conftest import BASE_DOMAIN
from tests.factories import UserFactory, access_token
from tests.support.processes import ApiServer

TIMEOUT = 15.0


def host(tenant: Any) -> str:
    """A tenant's host."""
    return f"{tenant.slug}.{BASE_DOMAIN}"


def new_user(sync_db: Any, tenant: Any, role: str = "owner") -> Any:
    """A committed user of `tenant` with a built-in role."""
    user = UserFactory.build(role_id=builtin_role_id(role))
    with sync_db.sync_session(tenant.schema_name) as session:
        session.add(user)
        session.commit()
    return user


def bearer(settings: Any, tenant: Any, user: Any) -> dict[str, str]:
    """Headers of an API call by `user` (a fresh sign-in session)."""
    return {"Authorization": f"Bearer {access_token(settings, tenant, user.id)}", "Host": host(tenant)}


def post(api: ApiServer, path: str, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    """A JSON POST to one API process."""
    return httpx.post(f"{api.url}{path}", headers=headers, json=body, timeout=10)


def patch(api: ApiServer, path: str, headers: dict[str, str], body: dict[str, Any]) -> httpx.Response:
    """A JSON PATCH to one API process."""
    return httpx.patch(f"{api.url}{path}", headers=headers, json=body, timeout=10)


def ticket(api: ApiServer, headers: dict[str, str]) -> str:
    """A connection ticket from one API process."""
    answer = httpx.post(f"{api.url}/api/v1/realtime/tickets", headers=headers, timeout=10)
    assert answer.status_code == 201, answer.text
    return answer.json()["ticket"]


async def connect(
    api: ApiServer, tenant_host: str, ticket_value: str | None, **options: Any
) -> ClientConnection:
    """A WebSocket to `api` as served at `tenant_host`."""
    query = f"?ticket={ticket_value}" if ticket_value is not None else ""
    return await websockets.connect(
        f"ws://{tenant_host}/api/v1/realtime{query}",
        host="127.0.0.1",
        port=api.port,
        open_timeout=TIMEOUT,
        **options,
    )


async def receive(ws: ClientConnection, wait: float = TIMEOUT) -> dict[str, Any]:
    """The next message."""
    return json.loads(await asyncio.wait_for(ws.recv(), wait))


async def until(ws: ClientConnection, predicate: Any, wait: float = TIMEOUT) -> dict[str, Any]:
    """The first message matching `predicate` (those before it are dropped)."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "no matching message arrived"
        message = await receive(ws, remaining)
        if predicate(message):
            return message


async def subscribe(ws: ClientConnection, channel: str, offset: str | None = None) -> dict[str, Any]:
    """Subscribe and return the `subscribed` answer (or the error)."""
    message: dict[str, Any] = {"type": "subscribe", "channel": channel}
    if offset is not None:
        message["offset"] = offset
    await ws.send(json.dumps(message))
    return await receive(ws)


async def closed_with(ws: ClientConnection, wait: float = TIMEOUT) -> tuple[int | None, str]:
    """Read until the server closes; its close code and reason."""
    try:
        async with asyncio.timeout(wait):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    assert ws.close_code is not None or ws.state.name == "CLOSED"
    return ws.close_code, ws.close_reason or ""


def marker() -> str:
    """A unique value to find an event by."""
    return uuid.uuid4().hex
