"""Chat fixtures: clients for users of each built-in role in tenant alpha, and a way to make rooms."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest

from platform_core.access.models import User
from tests.conftest import signed_in
from tests.factories import access_token, create_user

Client = httpx.AsyncClient


@pytest.fixture
async def users(
    app: Any, db: Any, settings: Any, tenant_a: Any
) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """`await users("member")`: a new user of alpha with that built-in role (or `role_id=`), and a client."""
    async with AsyncExitStack() as stack:

        async def make(role: str = "member", **fields: Any) -> tuple[User, Client]:
            user = await create_user(db, tenant_a, role=role, **fields)
            client = await stack.enter_async_context(
                signed_in(app, tenant_a, access_token(settings, tenant_a, user.id))
            )
            return user, client

        yield make


async def make_room(client: Client, name: str = "general", **fields: Any) -> dict[str, Any]:
    """Create a room through the API; its JSON."""
    response = await client.post("/api/v1/chat/rooms", json={"name": name, **fields})
    assert response.status_code == 201, response.text
    return response.json()


async def add(client: Client, room: dict[str, Any], user: User) -> None:
    """Add a user to a room through the API."""
    response = await client.post(f"/api/v1/chat/rooms/{room['id']}/members", json={"user_id": str(user.id)})
    assert response.status_code == 204, response.text


async def post(client: Client, room: dict[str, Any], body: str) -> httpx.Response:
    """Post a message."""
    return await client.post(f"/api/v1/chat/rooms/{room['id']}/messages", json={"body": body})
