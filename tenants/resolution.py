"""Host -> tenant resolution with an in-process cache, invalidated by PostgreSQL NOTIFY."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

import psycopg

from platform_core.auth.cache import AUTH_CHANNEL
from platform_core.context import TenantContext, TenantStatus, schema_name_for
from platform_core.db.engines import Database
from platform_core.settings import Settings, to_libpq_url
from platform_core.tenancy import HostResolution, NoTenantAtHost
from tenants import repository
from tenants.exceptions import InvalidHost
from tenants.slugs import is_valid_hostname

logger = logging.getLogger("platform.tenants")
NOTIFY_CHANNEL = "tenant_changed"
_NEGATIVE_TTL = 5.0  # seconds an unknown host stays cached: bounds DB load from floods of bad hosts
_MAX_ENTRIES = 50_000


def parse_host(raw: str | None) -> str:
    """Normalise a Host header to a lowercase host name without port; InvalidHost if malformed."""
    if not raw or len(raw) > 300:
        raise InvalidHost
    host = raw.strip().lower()
    if host.startswith("["):  # IPv6 literal: never a tenant host
        raise NoTenantAtHost
    name, sep, port = host.rpartition(":")
    if sep:
        if not port.isdigit():
            raise InvalidHost
        host = name
    host = host.rstrip(".")
    if not is_valid_hostname(host):
        raise InvalidHost
    return host


class HostResolver:
    """Resolves hosts against the tenant registry; a warm host costs no query."""

    def __init__(
        self, db: Database, settings: Settings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.db = db
        self.base_domain = settings.base_domain
        self.suffix = "." + settings.base_domain
        self.reserved = settings.reserved
        self.ttl = settings.tenant_cache_ttl_seconds
        self.clock = clock
        self._cache: dict[str, tuple[float, HostResolution | None]] = {}
        self.lookups = 0  # database lookups made, for tests and metrics

    def invalidate(self) -> None:
        """Forget every cached resolution."""
        self._cache.clear()

    async def resolve(self, host: str | None) -> HostResolution:
        """Map a Host header to a tenant or the platform; raise NoTenantAtHost or InvalidHost."""
        name = parse_host(host)
        now = self.clock()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            result = cached[1]
        else:
            result = await self._lookup(name)
            if len(self._cache) >= _MAX_ENTRIES:
                self._cache.clear()
            ttl = self.ttl if result is not None else min(self.ttl, _NEGATIVE_TTL)
            self._cache[name] = (now + ttl, result)
        if result is None:
            raise NoTenantAtHost
        return result

    async def _lookup(self, host: str) -> HostResolution | None:
        if host == self.base_domain:
            return HostResolution(tenant=None, platform_name="apex")
        if host.endswith(self.suffix):
            label = host[: -len(self.suffix)]
            if "." in label:
                return None
            if label in self.reserved:
                return HostResolution(tenant=None, platform_name=label)
            return await self._query(repository.find_by_slug, label)
        return await self._query(repository.find_by_verified_domain, host)

    async def _query(self, finder: Callable[..., Awaitable], key: str) -> HostResolution | None:
        self.lookups += 1
        async with self.db.async_engine.connect() as conn:
            row = await finder(conn, key)
        if row is None:
            return None
        tenant_id: uuid.UUID = row.id
        tenant = TenantContext(
            id=tenant_id,
            slug=row.slug,
            schema_name=schema_name_for(tenant_id),
            status=TenantStatus(row.status),
            suspended_reason=row.suspended_reason,
            name=row.name,
            plan_key=row.plan_key,
            billing_status=row.billing_status or "none",
            past_due_since=row.past_due_since,
        )
        return HostResolution(tenant=tenant)


async def listen_for_changes(
    settings: Settings,
    on_change: Callable[[], None],
    *,
    ready: asyncio.Event | None = None,
    on_auth_change: Callable[[str | None], None] | None = None,
) -> None:
    """Drop cached resolutions whenever a tenant changes, and cached principals whenever a tenant's
    access changes (LISTEN on both channels); reconnect with backoff forever."""
    delay = 0.5
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(to_libpq_url(settings.database_url), autocommit=True)
            async with conn:
                await conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                if on_auth_change is not None:
                    await conn.execute(f"LISTEN {AUTH_CHANNEL}")
                    on_auth_change(None)  # changes missed while disconnected: forget everything
                on_change()
                if ready is not None:
                    ready.set()
                delay = 0.5
                async for notice in conn.notifies():
                    if notice.channel == AUTH_CHANNEL:
                        if on_auth_change is not None:
                            on_auth_change(notice.payload)
                    else:
                        on_change()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep listening through database restarts
            logger.warning("tenant change listener disconnected: %s; retrying in %.1fs", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
