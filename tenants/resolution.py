"""Host -> tenant resolution with an in-process cache, invalidated by PostgreSQL NOTIFY.

Every tenant change sends `NOTIFY tenant_changed` with the tenant's id (tenants.repository.notify_changed);
the process's listener (platform_core.kernel.db.notifications, wired by the app factory) hands it to
`HostResolver.invalidate`.

With TENANT_CACHE_PRELOAD on, the cache is filled with every live tenant's hosts (its slug's host and
its verified domains) whenever the listener connects, at start-up and after each reconnection (which
forgets everything, since notifications sent meanwhile are lost), and reloaded in the background
before the entries' TTL runs out. Notifications keep it exact in between; the TTL still bounds what
is served stale while the listener is down. So traffic spread over many tenants finds each host
cached instead of paying a lookup (and a transaction) per host per TTL.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncConnection

from platform_core.kernel.changes import ChangeLog
from platform_core.kernel.context import TenantContext, TenantStatus, schema_name_for
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import Notifications
from platform_core.kernel.settings import Settings
from platform_core.kernel.tenancy import HostResolution, NoTenantAtHost
from tenants import repository
from tenants.exceptions import InvalidHost
from tenants.slugs import is_valid_hostname

logger = logging.getLogger("platform.tenants")
NOTIFY_CHANNEL = "tenant_changed"
_NEGATIVE_TTL = 5.0  # seconds an unknown host stays cached: bounds DB load from floods of bad hosts
_MAX_ENTRIES = 50_000
_PRELOAD_SHARE = 0.8  # a preload fills at most this share of the cache, leaving room for other hosts
_PRELOAD_RETRY = 5.0  # seconds before a failed preload is tried again


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
    """Resolves hosts against the tenant registry; a warm host costs no query.

    A change to a tenant drops that tenant's hosts and every cached miss (the change may have given
    one of them to the tenant: a rename, a verified domain). A lookup that a change of its tenant (or,
    for a miss, of any tenant) overtook while it read the database is answered but not cached, so a
    stale answer is never kept for the TTL.
    """

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
        self._hosts_of: dict[uuid.UUID, set[str]] = {}  # cached hosts of each tenant
        self._misses: set[str] = set()  # cached hosts with no tenant
        self._changes = ChangeLog()  # which lookups a change overtook
        self.lookups = 0  # database lookups made, for tests and metrics
        self.preload_enabled = settings.tenant_cache_preload and self.ttl > 0
        self.preloads = 0  # preloads completed, for tests and metrics
        self.max_entries = _MAX_ENTRIES
        self._preloading: asyncio.Task[None] | None = None
        self._refresh_at: float | None = None  # when the preloaded entries are reloaded

    def subscribe(self, notifications: Notifications) -> None:
        """Hear of every tenant change (`NOTIFY tenant_changed`) from the process's listener; with
        preloading on, reload every host whenever the listener (re)connects."""
        notifications.subscribe(NOTIFY_CHANNEL, self._heard)

    def _heard(self, tenant_id: str | None) -> None:
        self.invalidate(tenant_id)
        if tenant_id is None:
            self.schedule_preload()

    def schedule_preload(self) -> None:
        """Start a preload in the background (with preloading on, in a running loop, none running)."""
        if not self.preload_enabled or (self._preloading is not None and not self._preloading.done()):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._refresh_at = None
        self._preloading = loop.create_task(self._preload_in_background())

    async def _preload_in_background(self) -> None:
        try:
            await self.preload()
        except Exception as exc:  # the database is down: requests look hosts up one by one meanwhile
            logger.warning("tenant host preload failed: %s; retrying in %.0fs", exc, _PRELOAD_RETRY)
            self._refresh_at = self.clock() + _PRELOAD_RETRY

    async def preload(self) -> int:
        """Cache every live tenant's hosts, its slug's and its verified domains'; return how many.

        Read in batches, yielding to the event loop between them. A tenant changed while this reads
        is skipped (its next request looks it up), as for any overtaken lookup. Schedules the next
        reload half a TTL after this one began, so entries are replaced before they expire.
        """
        started = self._changes.start()
        began = self.clock()
        limit = int(self.max_entries * _PRELOAD_SHARE)
        tenants: dict[uuid.UUID, HostResolution] = {}
        stored = 0
        async with self.db.async_engine.connect() as conn:
            async for rows in repository.live_lookups(conn):
                now = self.clock()
                for row in rows:
                    result = tenants[row.id] = self._resolution(row)
                    if stored < limit and self._changes.current(started, row.id):
                        self._store(f"{row.slug}{self.suffix}", result, now)
                        stored += 1
                await asyncio.sleep(0)
            domains = await repository.verified_domain_lookups(conn)
        now = self.clock()
        for domain, tenant_id in domains:
            owner = tenants.get(tenant_id)
            if owner is not None and stored < limit and self._changes.current(started, tenant_id):
                self._store(domain, owner, now)
                stored += 1
        self.preloads += 1
        # Everything forgotten meanwhile (the listener reconnected): load again at the next request.
        overtaken = self._changes.all_changed_since(started)
        self._refresh_at = self.clock() if overtaken else began + self.ttl / 2
        return stored

    def invalidate(self, tenant_id: uuid.UUID | str | None = None) -> None:
        """Forget one tenant's cached resolutions and every cached miss; everything without an id."""
        key = self._changes.record(tenant_id)
        if key is None:
            self._forget_all()
            return
        for host in self._hosts_of.pop(key, set()) | self._misses:
            self._cache.pop(host, None)
        self._misses.clear()

    async def resolve(self, host: str | None) -> HostResolution:
        """Map a Host header to a tenant or the platform; raise NoTenantAtHost or InvalidHost."""
        name = parse_host(host)
        now = self.clock()
        if self._refresh_at is not None and now >= self._refresh_at:
            self.schedule_preload()
        cached = self._cache.get(name)
        if cached is not None and cached[0] > now:
            result = cached[1]
        else:
            started = self._changes.start()
            result = await self._lookup(name)
            if self._still_current(result, started):
                self._store(name, result, now)
        if result is None:
            raise NoTenantAtHost
        return result

    def _still_current(self, result: HostResolution | None, started: int) -> bool:
        """Whether no change that could alter `result` was heard since the lookup began."""
        if result is None:
            return self._changes.quiet(started)
        if result.tenant is None:  # the apex and reserved names come from the settings
            return not self._changes.all_changed_since(started)
        return self._changes.current(started, result.tenant.id)

    def _store(self, host: str, result: HostResolution | None, now: float) -> None:
        if len(self._cache) >= self.max_entries and host not in self._cache:
            self._forget_all()
        self._unindex(host)
        ttl = self.ttl if result is not None else min(self.ttl, _NEGATIVE_TTL)
        self._cache[host] = (now + ttl, result)
        if result is None:
            self._misses.add(host)
        elif result.tenant is not None:
            self._hosts_of.setdefault(result.tenant.id, set()).add(host)

    def _unindex(self, host: str) -> None:
        previous = self._cache.get(host)
        if previous is None:
            return
        if previous[1] is None:
            self._misses.discard(host)
        elif previous[1].tenant is not None:
            hosts = self._hosts_of.get(previous[1].tenant.id)
            if hosts is not None:
                hosts.discard(host)
                if not hosts:
                    del self._hosts_of[previous[1].tenant.id]

    def _forget_all(self) -> None:
        self._cache.clear()
        self._hosts_of.clear()
        self._misses.clear()

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

    async def _query(
        self, finder: Callable[[AsyncConnection, str], Awaitable[repository.TenantLookup | None]], key: str
    ) -> HostResolution | None:
        self.lookups += 1
        async with self.db.async_engine.connect() as conn:
            row = await finder(conn, key)
        return None if row is None else self._resolution(row)

    @staticmethod
    def _resolution(row: repository.TenantLookup) -> HostResolution:
        tenant_id: uuid.UUID = row.id
        tenant = TenantContext(
            id=tenant_id,
            slug=row.slug,
            schema_name=schema_name_for(tenant_id),
            status=TenantStatus(row.status),
            suspended_reason=row.suspended_reason,
            name=row.name,
        )
        return HostResolution(tenant=tenant)
