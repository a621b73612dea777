"""The principal cache: reused within a process, dropped per tenant by API changes and by NOTIFY."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

from platform_core.access.cache import AUTH_CHANNEL, PRINCIPALS, PrincipalCache, auth_changed_sync
from platform_core.kernel.db.notifications import KEPT_WHILE_LISTENING, Notifications
from tests.conftest import signed_in
from tests.factories import access_token, create_user


def test_an_answer_read_before_an_invalidation_is_not_stored():
    cache = PrincipalCache(ttl=30)
    tenant = uuid.uuid4()
    before = cache.generation(tenant)  # a request starts reading the database...
    cache.invalidate_tenant(tenant)  # ...a change commits meanwhile...
    cache.put(tenant, ("stale",), "old row", before)  # ...and its answer arrives too late
    assert cache.get(("stale",)) is None
    before = cache.generation(tenant)
    cache.clear()
    cache.put(tenant, ("stale",), "old row", before)
    assert cache.get(("stale",)) is None


def test_entries_are_grouped_by_tenant_and_expire():
    cache = PrincipalCache(ttl=30)
    one, two = uuid.uuid4(), uuid.uuid4()
    cache.put(one, ("a",), 1, cache.generation(one))
    cache.put(two, ("b",), 2, cache.generation(two))
    cache.invalidate_tenant(str(one))
    assert cache.get(("a",)) is None
    assert cache.get(("b",)) == 2
    cache.ttl = 0
    cache.put(one, ("c",), 3, cache.generation(one))
    assert cache.get(("c",)) is None
    expired = PrincipalCache(ttl=30)
    expired._entries[("d",)] = (time.monotonic() - 31, one, 4)  # as if stored 31 s ago
    assert expired.get(("d",)) is None


async def test_a_principal_is_read_once_then_reused(app, db, settings, tenant_a):
    user = await create_user(db, tenant_a, role="member")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
        assert (await client.get("/api/v1/items")).status_code == 200
        key = next(k for k in PRINCIPALS._entries if k[0] == "user" and k[2] == user.id)
        assert PRINCIPALS.get(key)[1] == "member"
        assert (await client.get("/api/v1/items")).status_code == 200


async def test_a_change_through_the_api_drops_the_tenants_entries_after_commit(
    app, client_a, db, settings, tenant_a
):
    member = await create_user(db, tenant_a, role="member")
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, member.id)) as as_member:
        assert (await as_member.post("/api/v1/items", json={"title": "x"})).status_code == 201
        assert any(k[0] == "user" and k[2] == member.id for k in PRINCIPALS._entries)
        assert (
            await client_a.patch(f"/api/v1/members/{member.id}", json={"role": "viewer"})
        ).status_code == 200
        assert not any(k[0] == "user" and k[2] == member.id for k in PRINCIPALS._entries)
        assert (await as_member.post("/api/v1/items", json={"title": "y"})).status_code == 403


async def test_other_processes_hear_of_changes_by_notify(settings, sync_db, tenant_a, tenant_b):
    cache = PrincipalCache(ttl=30)  # another process's cache: only the notification reaches it
    heard: list[str | None] = []
    ready, arrived = asyncio.Event(), asyncio.Event()

    def hear(payload: str | None) -> None:
        heard.append(payload)
        if payload == str(tenant_b.id):
            arrived.set()

    notifications = Notifications(settings)
    cache.subscribe(notifications)
    notifications.subscribe(AUTH_CHANNEL, hear)  # called after the cache's own callback
    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        assert heard == [None]  # on (re)connecting, everything cached is forgotten
        cache.put(tenant_a.id, ("other",), "kept", cache.generation(tenant_a.id))
        cache.put(tenant_b.id, ("probe",), "cached", cache.generation(tenant_b.id))
        with sync_db.sync_session() as session:
            auth_changed_sync(session, tenant_b.id)
            session.commit()
        await asyncio.wait_for(arrived.wait(), 10)
        assert cache.get(("probe",)) is None
        assert cache.get(("other",)) == "kept"
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener


async def test_entries_outlive_the_ttl_only_while_the_listener_is_connected(settings, tenant_a):
    cache = PrincipalCache(ttl=30)
    notifications = Notifications(settings)
    cache.subscribe(notifications)
    ready = asyncio.Event()
    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        now = time.monotonic()
        cache._entries[("old",)] = (now - 600, tenant_a.id, "kept")  # stored 10 minutes ago
        cache._entries[("ancient",)] = (now - KEPT_WHILE_LISTENING - 1, tenant_a.id, "dropped")
        assert cache.get(("old",)) == "kept"
        assert cache.get(("ancient",)) is None  # at most an hour, notified or not
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    assert cache.get(("old",)) is None  # the listener is down: older than the TTL is not used
