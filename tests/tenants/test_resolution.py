"""Host resolution: subdomains, reserved names, custom domains, the cache and its invalidation."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import event

from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import Notifications
from platform_core.kernel.tenancy import NoTenantAtHost
from tenants.exceptions import InvalidHost
from tenants.resolution import NOTIFY_CHANNEL, HostResolver, parse_host
from tests.conftest import BASE_DOMAIN


class FakeClock:
    """A clock the test moves by hand (time itself, not a service)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def resolver(settings):
    database = Database(settings, pool_size=1)
    clock = FakeClock()
    yield HostResolver(database, settings, clock=clock), clock
    await database.dispose()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Acme.Example.com:8000", "acme.example.com"),
        ("acme.example.com.", "acme.example.com"),
        ("a.b", "a.b"),
    ],
)
def test_parse_host(raw, expected):
    assert parse_host(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "acme.example.com:port", "bad_host", "a" * 301, "ex ample.com"])
def test_malformed_hosts_rejected(raw):
    with pytest.raises(InvalidHost):
        parse_host(raw)


async def test_subdomain_resolves_to_tenant(resolver, tenant_a):
    host_resolver, _ = resolver
    result = await host_resolver.resolve(f"{tenant_a.slug}.{BASE_DOMAIN}:443")
    assert result.tenant is not None
    assert result.tenant.id == tenant_a.id
    assert result.tenant.schema_name == f"t_{tenant_a.id.hex}"


@pytest.mark.parametrize(("host", "name"), [(BASE_DOMAIN, "apex"), (f"www.{BASE_DOMAIN}", "www")])
async def test_apex_and_reserved_hosts_are_platform(resolver, host, name):
    host_resolver, _ = resolver
    result = await host_resolver.resolve(host)
    assert result.tenant is None
    assert result.platform_name == name


@pytest.mark.parametrize(
    "host",
    [f"nobody.{BASE_DOMAIN}", f"a.b.{BASE_DOMAIN}", "example.org", f"{BASE_DOMAIN}.evil.com", "[::1]:80"],
)
async def test_unknown_hosts_are_404(resolver, tenant_a, host):
    host_resolver, _ = resolver
    with pytest.raises(NoTenantAtHost) as excinfo:
        await host_resolver.resolve(host)
    assert excinfo.value.status_code == 404


async def test_warm_host_costs_no_query_until_ttl(resolver, tenant_a):
    host_resolver, clock = resolver
    host = f"{tenant_a.slug}.{BASE_DOMAIN}"
    await host_resolver.resolve(host)
    for _ in range(20):
        await host_resolver.resolve(host)
    assert host_resolver.lookups == 1
    clock.now += 31
    await host_resolver.resolve(host)
    assert host_resolver.lookups == 2


async def test_unknown_host_cached_briefly(resolver):
    host_resolver, clock = resolver
    for _ in range(5):
        with pytest.raises(NoTenantAtHost):
            await host_resolver.resolve(f"ghost.{BASE_DOMAIN}")
    assert host_resolver.lookups == 1
    clock.now += 6
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(f"ghost.{BASE_DOMAIN}")
    assert host_resolver.lookups == 2


async def test_custom_domain_serves_only_once_verified(resolver, tenant_service):
    host_resolver, _ = resolver
    slug = f"dom-{uuid.uuid4().hex[:8]}"
    tenant = tenant_service.create(slug=slug, name="Dom")
    domain = f"shop.{slug}.io"
    tenant_service.add_domain(slug, domain)
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(domain)
    tenant_service.verify_domain(domain)
    host_resolver.invalidate()
    result = await host_resolver.resolve(domain.upper())
    assert result.tenant is not None
    assert result.tenant.id == tenant.id
    tenant_service.remove_domain(domain)
    host_resolver.invalidate()
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(domain)


async def test_notify_invalidates_cache_on_change(resolver, settings, tenant_service):
    host_resolver, _ = resolver
    slug = f"note-{uuid.uuid4().hex[:8]}"
    tenant_service.create(slug=slug, name="Note")
    host = f"{slug}.{BASE_DOMAIN}"
    assert (await host_resolver.resolve(host)).tenant.status == "active"

    ready = asyncio.Event()
    invalidated = asyncio.Event()
    notifications = Notifications(settings)
    host_resolver.subscribe(notifications)
    notifications.subscribe(NOTIFY_CHANNEL, lambda _tenant_id: invalidated.set())  # after the resolver

    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        await host_resolver.resolve(host)
        invalidated.clear()
        await asyncio.to_thread(tenant_service.suspend, slug, reason="unpaid invoice")
        await asyncio.wait_for(invalidated.wait(), 10)
        tenant = (await host_resolver.resolve(host)).tenant
        assert tenant.status == "suspended"
        assert tenant.suspended_reason == "unpaid invoice"
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def test_a_notification_drops_only_the_tenant_it_names(resolver, settings, tenant_service, tenant_a):
    host_resolver, _ = resolver
    slug = f"one-{uuid.uuid4().hex[:8]}"
    changed = tenant_service.create(slug=slug, name="One")
    hosts = {"changed": f"{slug}.{BASE_DOMAIN}", "other": f"{tenant_a.slug}.{BASE_DOMAIN}"}
    ready, heard = asyncio.Event(), asyncio.Event()

    def on_change(tenant_id: str | None) -> None:
        if tenant_id == str(changed.id):
            heard.set()

    notifications = Notifications(settings)
    host_resolver.subscribe(notifications)
    notifications.subscribe(NOTIFY_CHANNEL, on_change)  # called after the resolver's own callback
    listener = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        for host in hosts.values():
            await host_resolver.resolve(host)
        lookups = host_resolver.lookups
        await asyncio.to_thread(tenant_service.suspend, slug, reason="audit")
        await asyncio.wait_for(heard.wait(), 10)
        assert (await host_resolver.resolve(hosts["changed"])).tenant.status == "suspended"
        assert (await host_resolver.resolve(hosts["other"])).tenant.id == tenant_a.id
        assert host_resolver.lookups == lookups + 1  # the other tenant's host stayed cached
    finally:
        listener.cancel()
        with pytest.raises(asyncio.CancelledError):
            await listener


async def test_a_change_of_one_tenant_drops_cached_misses(resolver, tenant_service):
    host_resolver, _ = resolver
    slug, new_slug = f"old-{uuid.uuid4().hex[:8]}", f"new-{uuid.uuid4().hex[:8]}"
    tenant = tenant_service.create(slug=slug, name="Moves")
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(f"{new_slug}.{BASE_DOMAIN}")
    await host_resolver.resolve(f"{slug}.{BASE_DOMAIN}")
    tenant_service.rename(slug, new_slug=new_slug)
    host_resolver.invalidate(str(tenant.id))  # what the listener does with the notification
    assert (await host_resolver.resolve(f"{new_slug}.{BASE_DOMAIN}")).tenant.id == tenant.id
    with pytest.raises(NoTenantAtHost):
        await host_resolver.resolve(f"{slug}.{BASE_DOMAIN}")


@pytest.mark.parametrize("notified", ["tenant", "everything"])
async def test_a_lookup_overtaken_by_a_change_is_not_cached(resolver, tenant_service, notified):
    host_resolver, _ = resolver
    slug = f"race-{uuid.uuid4().hex[:8]}"
    tenant = tenant_service.create(slug=slug, name="Race")
    host = f"{slug}.{BASE_DOMAIN}"

    def change_after_the_read(*_: object) -> None:
        # The lookup has read the tenant as active; the suspension commits and its notification is
        # heard before the lookup's answer is stored.
        tenant_service.suspend(slug, reason="raced")
        host_resolver.invalidate(str(tenant.id) if notified == "tenant" else None)

    engine = host_resolver.db.async_engine.sync_engine
    event.listen(engine, "after_cursor_execute", change_after_the_read, once=True)
    try:
        assert (await host_resolver.resolve(host)).tenant.status == "active"  # answered as read
    finally:
        if event.contains(engine, "after_cursor_execute", change_after_the_read):
            event.remove(engine, "after_cursor_execute", change_after_the_read)
    assert (await host_resolver.resolve(host)).tenant.status == "suspended"  # not the stale answer
