"""The host cache preloaded with every live tenant's hosts, reloaded before expiry, kept exact by NOTIFY."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest
from sqlalchemy import event

from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import Notifications
from platform_core.kernel.tenancy import NoTenantAtHost
from tenants.resolution import NOTIFY_CHANNEL, HostResolver
from tests.conftest import BASE_DOMAIN
from tests.tenants.test_resolution import FakeClock


@pytest.fixture
async def resolver(settings):
    database = Database(settings, pool_size=1)
    clock = FakeClock()
    yield HostResolver(database, settings, clock=clock), clock
    await database.dispose()


class StatementCounter:
    """Counts the statements an engine sends while installed."""

    def __init__(self, resolver: HostResolver) -> None:
        self.engine = resolver.db.async_engine.sync_engine
        self.count = 0

    def _seen(self, *_: object) -> None:
        self.count += 1

    def __enter__(self) -> StatementCounter:
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._seen)


async def wait_for(condition: Callable[[], bool]) -> None:
    """Wait until `condition()` holds (checked every 10 ms); fail after 10 s."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true within 10 s")


async def test_the_preloaded_cache_answers_without_a_query(resolver, tenant_service, tenant_a):
    host_resolver, _ = resolver
    slug = f"pre-{uuid.uuid4().hex[:8]}"
    tenant = tenant_service.create(slug=slug, name="Pre")
    domain = f"shop.{slug}.io"
    tenant_service.add_domain(slug, domain)
    tenant_service.verify_domain(domain)
    stored = await host_resolver.preload()
    assert stored >= 3  # at least alpha's host, the new tenant's host and its domain
    with StatementCounter(host_resolver) as statements:
        for host in (f"{slug}.{BASE_DOMAIN}", domain, f"{tenant_a.slug}.{BASE_DOMAIN}"):
            result = await host_resolver.resolve(host)
            assert result.tenant is not None
        assert (await host_resolver.resolve(domain)).tenant.id == tenant.id
    assert statements.count == 0
    assert host_resolver.lookups == 0


async def test_purged_tenants_are_not_preloaded(resolver, tenant_service):
    host_resolver, _ = resolver
    slug = f"gone-{uuid.uuid4().hex[:8]}"
    tenant_service.create(slug=slug, name="Gone")
    tenant_service.mark_deleted(slug, grace_days=0)
    tenant_service.purge(slug, force=True)
    await host_resolver.preload()
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(f"{slug}.{BASE_DOMAIN}")  # not cached: looked up, and unknown
    assert host_resolver.lookups == 1


async def test_preloaded_hosts_are_reloaded_before_they_expire(resolver, tenant_a, settings):
    host_resolver, clock = resolver
    host = f"{tenant_a.slug}.{BASE_DOMAIN}"
    await host_resolver.preload()
    clock.now += settings.tenant_cache_ttl_seconds / 2 + 1
    await host_resolver.resolve(host)  # due for a reload: starts one in the background
    await wait_for(lambda: host_resolver.preloads == 2)
    clock.now += settings.tenant_cache_ttl_seconds / 2 + 1  # past the first preload's TTL
    with StatementCounter(host_resolver) as statements:
        await host_resolver.resolve(host)
    assert statements.count == 0
    assert host_resolver.lookups == 0


async def test_without_preloading_nothing_is_loaded_ahead(settings, tenant_a):
    database = Database(settings.model_copy(update={"tenant_cache_preload": False}), pool_size=1)
    host_resolver = HostResolver(database, database.settings)
    try:
        host_resolver.schedule_preload()
        assert host_resolver.preloads == 0
        await host_resolver.resolve(f"{tenant_a.slug}.{BASE_DOMAIN}")
        assert host_resolver.lookups == 1
    finally:
        await database.dispose()


async def test_the_listener_preloads_and_a_notify_still_invalidates(resolver, settings, tenant_service):
    host_resolver, _ = resolver
    slug = f"warm-{uuid.uuid4().hex[:8]}"
    tenant = tenant_service.create(slug=slug, name="Warm")
    host = f"{slug}.{BASE_DOMAIN}"
    ready, heard = asyncio.Event(), asyncio.Event()

    def on_change(tenant_id: str | None) -> None:
        if tenant_id == str(tenant.id):
            heard.set()

    notifications = Notifications(settings)
    host_resolver.subscribe(notifications)
    notifications.subscribe(NOTIFY_CHANNEL, on_change)  # called after the resolver's own callback
    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await wait_for(lambda: host_resolver.preloads >= 1)  # connecting preloaded every host
        assert (await host_resolver.resolve(host)).tenant.status == "active"
        assert host_resolver.lookups == 0
        await asyncio.to_thread(tenant_service.suspend, slug, reason="unpaid invoice")
        await asyncio.wait_for(heard.wait(), 10)
        suspended = (await host_resolver.resolve(host)).tenant
        assert suspended.status == "suspended"
        assert suspended.suspended_reason == "unpaid invoice"
        assert host_resolver.lookups == 1
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def test_a_preload_overtaken_by_forgetting_everything_loads_again(resolver, tenant_a):
    host_resolver, _ = resolver
    engine = host_resolver.db.async_engine.sync_engine

    def reconnected(*_: object) -> None:
        host_resolver.invalidate(None)  # what a reconnecting listener does, while the preload reads

    event.listen(engine, "after_cursor_execute", reconnected, once=True)
    try:
        assert await host_resolver.preload() == 0  # nothing stored: all of it may be stale
    finally:
        if event.contains(engine, "after_cursor_execute", reconnected):
            event.remove(engine, "after_cursor_execute", reconnected)
    await host_resolver.resolve(f"{tenant_a.slug}.{BASE_DOMAIN}")  # looked up, and a reload started
    await wait_for(lambda: host_resolver.preloads == 2)
    assert host_resolver.lookups == 1
