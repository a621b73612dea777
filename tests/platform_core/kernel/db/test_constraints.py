"""Which database errors reach users as what: named conflicts are 409s, anything else is a 500."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import Integer, cast, insert, literal, select, text

from platform_core.access.dependencies import PUBLIC
from platform_core.access.models import Role
from platform_core.items.models import Item
from platform_core.kernel.db.engines import Database
from platform_core.kernel.tenancy import TenantSessionDep
from tests.conftest import host_of, owner_client

LOCK_WAIT_DEADLINE = 10.0


async def _violate_not_null(session: TenantSessionDep) -> None:
    """Insert an item without its title: a bug, not a conflict."""
    await session.execute(insert(Item).values(title=None))


async def _cast_text_to_int(session: TenantSessionDep) -> None:
    """Ask the database for a value it refuses: a bug in our validation, not the client's input."""
    await session.execute(select(cast(literal("not a number"), Integer)))


@pytest.mark.parametrize("endpoint", [_violate_not_null, _cast_text_to_int])
async def test_an_unexpected_database_error_is_a_500_logged_as_an_error(
    app: Any, tenant_a: Any, caplog: pytest.LogCaptureFixture, endpoint: Any
) -> None:
    app.add_api_route("/api/v1/test-broken", endpoint, methods=["POST"], dependencies=[PUBLIC])
    caplog.set_level(logging.INFO)
    # As a server does: the exception goes on to the server (and Sentry) after the 500 is sent.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host_of(tenant_a)}") as client:
        response = await client.post("/api/v1/test-broken")
    assert response.status_code == 500, response.text
    assert response.json()["error"]["code"] == "internal_error"
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert errors, "an unexpected database error must be logged at ERROR with its traceback (Sentry)"


def _wait_until_blocked(sync_db: Database, application_name: str) -> None:
    """Poll until a backend of the app waits for a lock (the other transaction's row)."""
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND application_name = :n AND datname = current_database()"
    )
    while True:
        with sync_db.sync_engine.connect() as conn:
            if conn.execute(query, {"n": application_name}).scalar():
                return
        assert time.monotonic() < deadline, "the request never waited for the other transaction"
        time.sleep(0.02)


async def test_a_role_name_taken_by_a_concurrent_transaction_is_role_name_taken(
    live_app: Any, settings: Any, sync_db: Database, tenant_service: Any
) -> None:
    tenant = tenant_service.create(slug=f"race-{uuid.uuid4().hex[:6]}", name="Race")
    name = "racer"
    async with owner_client(live_app, settings, sync_db, tenant) as client:
        with sync_db.sync_session(tenant.schema_name) as other:
            # Another request's transaction inserted the name, after our request's check and before
            # its insert: our insert waits on the unique index, then finds the name taken.
            other.execute(insert(Role).values(name=name, description="", permissions=[], builtin=False))
            request = asyncio.create_task(
                client.post("/api/v1/roles", json={"name": name, "permissions": []})
            )
            await asyncio.to_thread(_wait_until_blocked, sync_db, "platform")
            other.commit()
        response = await request
    assert response.status_code == 409, response.text
    assert response.json()["error"]["code"] == "role_name_taken"
