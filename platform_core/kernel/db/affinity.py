"""Tenant-affine pools: each tenant schema is served by one small pool of its own slice.

A PostgreSQL backend caches the catalog entries (relations, columns, indexes) of every schema it has
touched, and never gives them back. With one shared pool, every backend ends up serving every tenant,
so each holds the catalogs of all of them: memory per backend grows with the number of tenants, and
spread traffic keeps meeting backends that have not seen its schema yet. Hashing each schema to one of
K slices, each a pool of a few connections, bounds what one backend touches to about 1/K of the
tenants a process serves; the ingress hash on the Host header (helm/) shrinks that set per pod too.

Slice pools have no overflow: a connection is never closed because a burst ended, so steady load
opens no backends (each start costs a fork and a cold cache). A session is counted against its slice
while it is open; when all of its slice's connections are taken (one tenant busier than its slice
can serve, or a burst that hashed unevenly), the session spills over to the process's shared pool
instead of queueing, so a hot tenant is never capped at its slice's size. A lean read (reads.py) of
a quiet tenant, one with nothing else open in this process, waits up to DB_SLICE_WAIT_MS for its
slice first: when a slice is full because many quiet tenants hashed to it at once, spilling would
send their reads to the shared pool's backends, which meet every tenant, are replaced every
DB_RECYCLE_AFTER_SCHEMAS schemas and so are mostly cold for them (under load spread over 10,000
tenants, a quarter to a half of the reads spilled that way; bench/README.md). The waiting reads of a
slice queue here, in arrival order, and each slot a session or read gives back goes straight to the
first of them (no timed queue inside the pool: a wait costs one future and one timer); a read that
waited its time spills. A tenant that already has a session or read open is busier than its slice: it
spills at once, and never waits on itself. recycling.py bounds what the shared pool's backends, which
meet every tenant, cache: a connection that has served too many distinct schemas is replaced.
"""

from __future__ import annotations

import asyncio
import zlib
from collections import deque
from typing import Any

from prometheus_client import Counter
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from platform_core.kernel.db.outages import discard_closed_connections
from platform_core.kernel.db.recycling import recycle_after_schemas

__all__ = ["SPILLS", "WAITS", "SlicedPools", "slice_of"]

SPILLS = Counter(
    "platform_db_slice_spills",
    "API sessions sent to the shared pool because their tenant's slice was full",
)
WAITS = Counter(
    "platform_db_slice_waits",
    "Lean reads of a quiet tenant that waited for their full slice (those that waited in vain spilled)",
)


def slice_of(schema: str, slices: int) -> int:
    """The slice that serves `schema`: a stable hash, the same in every process and every release."""
    return zlib.crc32(schema.encode()) % slices


class SlicedPools:
    """K async engines, one small pool each, every tenant schema always served by the same one."""

    def __init__(
        self,
        url: str | URL,
        *,
        slices: int,
        pool_size: int,
        recycle_after: int,
        engine_args: dict[str, Any],
        wait_ms: int = 0,
    ) -> None:
        """`engine_args` are the process's other engine arguments (recycle time, connect arguments);
        `wait_ms` is how long a quiet tenant's read may wait for its slice (0: it spills at once)."""
        args = {**engine_args, "pool_size": pool_size, "max_overflow": 0}
        engines = []
        for _ in range(slices):
            engine = create_async_engine(url, **args)
            discard_closed_connections(engine.sync_engine)
            recycle_after_schemas(engine.sync_engine, recycle_after)
            engines.append(engine)
        self.engines: tuple[AsyncEngine, ...] = tuple(engines)
        self.capacity = pool_size
        self.wait_s = wait_ms / 1000
        # One event loop per process: no locks. A slice's count never passes its pool's size, so a
        # claimed slice's pool always has a connection (or room to open one) and never queues.
        self.open_sessions = [0] * slices  # sessions and reads holding each slice
        self.open_by_schema: dict[str, int] = {}  # the same, by tenant schema
        self.waiters: list[deque[asyncio.Future[bool]]] = [deque() for _ in range(slices)]
        self.spilled = 0  # sessions sent to the shared pool because their slice was full

    def engine_for(self, schema: str) -> AsyncEngine:
        """The engine of the slice that serves `schema`."""
        return self.engines[slice_of(schema, len(self.engines))]

    def claim(self, schema: str) -> int | None:
        """Count a session of `schema` against its slice and return the slice; None (spill) if full."""
        index = slice_of(schema, len(self.engines))
        if self.open_sessions[index] >= self.capacity:
            self.spill()
            return None
        self.open_sessions[index] += 1
        self._count(schema)
        return index

    async def acquire(self, schema: str) -> int | None:
        """`claim` for a lean read: a quiet tenant (nothing else open here) whose slice is full waits up
        to DB_SLICE_WAIT_MS for a slot that `release` hands over, then spills (None)."""
        index = slice_of(schema, len(self.engines))
        if self.open_sessions[index] < self.capacity:
            self.open_sessions[index] += 1
            self._count(schema)
            return index
        if not self.wait_s or schema in self.open_by_schema:
            self.spill()
            return None
        WAITS.inc()
        loop = asyncio.get_running_loop()
        handed = loop.create_future()
        self.waiters[index].append(handed)
        timer = loop.call_later(self.wait_s, _give_up, handed)
        try:
            got = await handed
        except asyncio.CancelledError:
            if handed.done() and not handed.cancelled() and handed.result():
                self._pass_on(index)  # handed a slot just as the read was cancelled: not to be lost
            raise
        finally:
            timer.cancel()
        if not got:
            self.spill()
            return None
        self._count(schema)  # the slot came from release(), still counted in open_sessions
        return index

    def waiting(self, index: int) -> int:
        """Reads waiting for slice `index`."""
        return sum(not handed.done() for handed in self.waiters[index])

    def spill(self) -> None:
        """Count a session sent to the shared pool."""
        self.spilled += 1
        SPILLS.inc()

    def release(self, index: int, schema: str) -> None:
        """A session or read of `schema` on slice `index` has ended: its slot goes to the first read
        still waiting for the slice, if any."""
        left = self.open_by_schema[schema] - 1
        if left:
            self.open_by_schema[schema] = left
        else:
            del self.open_by_schema[schema]
        self._pass_on(index)

    def _pass_on(self, index: int) -> None:
        queue = self.waiters[index]
        while queue:
            handed = queue.popleft()
            if not handed.done():  # (one that gave up or was cancelled is skipped)
                handed.set_result(True)
                return
        self.open_sessions[index] -= 1

    def _count(self, schema: str) -> None:
        self.open_by_schema[schema] = self.open_by_schema.get(schema, 0) + 1

    async def dispose(self) -> None:
        """Close every slice's pooled connections."""
        for engine in self.engines:
            await engine.dispose()


def _give_up(handed: asyncio.Future[bool]) -> None:
    """A read waited its time for its slice: it spills (unless a slot reached it first)."""
    if not handed.done():
        handed.set_result(False)
