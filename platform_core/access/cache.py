"""A per-process cache of principals, dropped per tenant whenever who-may-do-what changes.

Resolving a principal costs one indexed query, which is a fifth of a small request's CPU
(bench/auth_overhead.py). The rows it reads change only through a few operations (role changes,
removals, sign-outs, password changes, key revocations, custom role edits); each of them calls
`auth_changed(session, tenant_id)`, which (1) sends NOTIFY `auth_changed` in the transaction, so
every API process drops that tenant's entries as soon as it commits, and (2) drops them in this
process right after the commit. While the process's listener is connected an entry is kept until a
notification drops it (at most an hour: `entry_lifetime`), so traffic spread over thousands of tenants
does not pay a lookup per principal per TTL; while it is down, entries older than
PRINCIPAL_CACHE_TTL_SECONDS are not used, and its reconnection clears everything. After changing
these rows by hand in SQL, `SELECT pg_notify('auth_changed', '')` makes every process forget them.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Hashable
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.db.notifications import Notifications, entry_lifetime
from platform_core.kernel.repository import notify, notify_sync

AUTH_CHANNEL = "auth_changed"
_PENDING = "platform.auth_changed"


class PrincipalCache:
    """Entries by key, grouped by tenant; each lives `entry_lifetime(ttl, listener)` seconds."""

    def __init__(self, ttl: float = 30.0, max_entries: int = 50_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._notifications: Notifications | None = None  # the listener, once subscribed
        self._entries: dict[Hashable, tuple[float, uuid.UUID, Any]] = {}  # stored at, tenant, value
        self._by_tenant: dict[uuid.UUID, set[Hashable]] = {}
        # Bumped by every invalidation: an answer read from the database before a change committed
        # must not be stored after the change dropped the tenant's entries.
        self._generations: dict[uuid.UUID, int] = {}
        self._epoch = 0

    def generation(self, tenant_id: uuid.UUID) -> tuple[int, int]:
        """A token to pass to `put`, taken before reading the database."""
        return self._epoch, self._generations.get(tenant_id, 0)

    def get(self, key: Hashable) -> Any | None:
        """The cached value, or None when absent or expired."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] >= entry_lifetime(self.ttl, self._notifications):
            self._drop(key)
            return None
        return entry[2]

    def put(self, tenant_id: uuid.UUID, key: Hashable, value: Any, generation: tuple[int, int]) -> None:
        """Remember `value` for `key`, unless the tenant was invalidated since `generation` was taken
        (or the cache is disabled with ttl 0)."""
        if self.ttl <= 0 or generation != self.generation(tenant_id):
            return
        if len(self._entries) >= self.max_entries:
            self.clear()
        self._entries[key] = (time.monotonic(), tenant_id, value)
        self._by_tenant.setdefault(tenant_id, set()).add(key)

    def invalidate_tenant(self, tenant_id: uuid.UUID | str) -> None:
        """Forget every entry of one tenant."""
        try:
            key = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
        except ValueError:
            self.clear()
            return
        self._generations[key] = self._generations.get(key, 0) + 1
        for entry_key in self._by_tenant.pop(key, set()):
            self._entries.pop(entry_key, None)

    def subscribe(self, notifications: Notifications) -> None:
        """Hear of changes other processes make (`NOTIFY auth_changed`) from the process's listener,
        and keep entries while it is connected."""
        notifications.subscribe(AUTH_CHANNEL, self.forget)
        self._notifications = notifications

    def forget(self, tenant_id: str | None) -> None:
        """Forget one tenant's entries, or everything when None (a notification's payload)."""
        if tenant_id is None:
            self.clear()
        else:
            self.invalidate_tenant(tenant_id)

    def clear(self) -> None:
        """Forget everything."""
        self._epoch += 1
        self._entries.clear()
        self._by_tenant.clear()

    def _drop(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._by_tenant.get(entry[1], set()).discard(key)


PRINCIPALS = PrincipalCache()


async def auth_changed(session: AsyncSession, tenant_id: uuid.UUID) -> None:
    """Record that principals of `tenant_id` change in this transaction (see the module docstring)."""
    await notify(session, channel=AUTH_CHANNEL, payload=str(tenant_id))
    session.sync_session.info.setdefault(_PENDING, set()).add(tenant_id)


def auth_changed_sync(session: Session, tenant_id: uuid.UUID) -> None:
    """`auth_changed` for sync sessions (CLI, workers)."""
    notify_sync(session, channel=AUTH_CHANNEL, payload=str(tenant_id))
    session.info.setdefault(_PENDING, set()).add(tenant_id)


@event.listens_for(Session, "after_commit")
def _forget_after_commit(session: Session) -> None:
    for tenant_id in session.info.pop(_PENDING, ()):
        PRINCIPALS.invalidate_tenant(tenant_id)


@event.listens_for(Session, "after_rollback")
def _nothing_changed(session: Session) -> None:
    session.info.pop(_PENDING, None)
