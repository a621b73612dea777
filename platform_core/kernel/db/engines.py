"""Engines and sessions: one pool per engine; a tenant's sessions run on engine copies bound by binding.py.

The API's tenant sessions run on the pool of their schema's slice (affinity.py) when
DB_TENANT_AFFINITY is on; everything else (public, the CLI, workers, tests' own engine) on one pool.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.util.concurrency import greenlet_spawn

from platform_core.kernel.db.affinity import SlicedPools
from platform_core.kernel.db.binding import bind_engine
from platform_core.kernel.db.dialect import TenantNotBoundError, guarded_url
from platform_core.kernel.db.outages import discard_closed_connections
from platform_core.kernel.db.recycling import note_schema, recycle_after_schemas
from platform_core.kernel.settings import Settings

__all__ = ["Database", "TenantNotBoundError", "connect_args", "guarded_url"]


def connect_args(settings: Settings) -> dict[str, Any]:
    """Arguments for every new database connection (PgBouncer-safe when behind one)."""
    args: dict[str, Any] = {"application_name": "platform"}
    if settings.db_behind_pgbouncer:
        # PgBouncer in transaction mode moves transactions between server connections, where a
        # statement prepared on one is unknown; it also rejects startup `options` (set the statement
        # timeout on the database role instead).
        args["prepare_threshold"] = None
    else:
        args["options"] = f"-c statement_timeout={settings.db_statement_timeout_ms}"
    return args


E = TypeVar("E", Engine, AsyncEngine)


_MAX_COPIES = 100_000  # engine copies kept per engine kind (a few hundred bytes each)


def _copy_for(cache: dict[str, E], schema: str, engine: E) -> E:
    """The cached copy of `engine` bound to `schema` (bounded: cleared past _MAX_COPIES schemas)."""
    bound = cache.get(schema)
    if bound is None:
        if len(cache) >= _MAX_COPIES:
            cache.clear()
        bound = cache[schema] = bind_engine(engine, schema)
    return bound


class Database:
    """The process's engines: async for the API, sync for the CLI and workers; one pool each."""

    def __init__(
        self, settings: Settings, *, pool_size: int | None = None, async_engine: AsyncEngine | None = None
    ) -> None:
        """Engines for `settings`; `async_engine` replaces the API's pooled engine (tests run theirs
        inside one transaction), everything above it (engine copies, sessions) stays the same.

        Tenant sessions are routed to slices (affinity.py) only for the API's own engine: not when
        `async_engine` is given, nor when `pool_size` is (the CLI's and workers' small pools)."""
        url = guarded_url(settings.sync_database_url)
        size = pool_size or settings.db_pool_size
        common: dict[str, Any] = {
            "pool_size": size,
            "max_overflow": settings.db_max_overflow,
            "pool_recycle": settings.db_pool_recycle_seconds,
            # No round trip per checkout: a connection the server closed is noticed locally instead.
            "pool_pre_ping": False,
            "connect_args": connect_args(settings),
        }
        self.settings = settings
        self.slices: SlicedPools | None = None
        sliced = settings.db_tenant_affinity and pool_size is None and async_engine is None
        # Sliced, the shared pool (public, and tenants spilling over from a full slice) keeps what it
        # opens, up to DB_POOL_SIZE: no overflow connection closed after each burst.
        common_async = {**common, "max_overflow": 0} if sliced else common
        if async_engine is None:
            async_engine = create_async_engine(url, **common_async)
            discard_closed_connections(async_engine.sync_engine)
            recycle_after_schemas(async_engine.sync_engine, settings.db_recycle_after_schemas)
            if sliced:
                self.slices = SlicedPools(
                    url,
                    slices=settings.db_tenant_slices,
                    pool_size=settings.db_slice_pool_size,
                    recycle_after=settings.db_recycle_after_schemas,
                    wait_ms=settings.db_slice_wait_ms,
                    engine_args={k: v for k, v in common.items() if k not in ("pool_size", "max_overflow")},
                )
        self.async_engine: AsyncEngine = async_engine
        self._sync_engine: Engine | None = None
        self._common = common
        self._async_tenant_engines: dict[str, AsyncEngine] = {}
        self._async_spill_engines: dict[str, AsyncEngine] = {}  # on the shared pool, slices being on
        self._sync_tenant_engines: dict[str, Engine] = {}
        self._async_sessions = async_sessionmaker(expire_on_commit=False, autoflush=False)
        self._sync_sessions = sessionmaker(expire_on_commit=False, autoflush=False)

    @property
    def sync_engine(self) -> Engine:
        """The synchronous engine, created on first use."""
        if self._sync_engine is None:
            self._sync_engine = create_engine(guarded_url(self.settings.sync_database_url), **self._common)
            discard_closed_connections(self._sync_engine)
            recycle_after_schemas(self._sync_engine, self.settings.db_recycle_after_schemas)
        return self._sync_engine

    def async_engine_for(self, schema: str | None) -> AsyncEngine:
        """An engine copy (sharing the pool) that renders tenant tables into `schema`."""
        if schema is None:
            return self.async_engine
        bound = self._async_tenant_engines.get(schema)  # the warm path: one dict lookup
        if bound is not None:
            return bound
        base = self.async_engine if self.slices is None else self.slices.engine_for(schema)
        return _copy_for(self._async_tenant_engines, schema, base)

    def sync_engine_for(self, schema: str | None) -> Engine:
        """A sync engine copy (sharing the pool) that renders tenant tables into `schema`."""
        if schema is None:
            return self.sync_engine
        return _copy_for(self._sync_tenant_engines, schema, self.sync_engine)

    @asynccontextmanager
    async def session(self, schema: str | None = None) -> AsyncIterator[AsyncSession]:
        """An async session for one tenant (or only `public` when schema is None); caller commits.

        With slices, a tenant's session runs on its slice's pool, or on the shared pool while every
        connection of its slice is taken (affinity.py)."""
        claimed = None if schema is None or self.slices is None else self.slices.claim(schema)
        if claimed is None and schema is not None and self.slices is not None:
            bind = _copy_for(self._async_spill_engines, schema, self.async_engine)
        else:
            bind = self.async_engine_for(schema)
        try:
            async with self._async_sessions(bind=bind) as session:
                yield session
        finally:
            if claimed is not None and self.slices is not None and schema is not None:
                self.slices.release(claimed, schema)

    @asynccontextmanager
    async def pooled_connection(self, schema: str) -> AsyncIterator[PoolProxiedConnection]:
        """A connection from the pool that serves `schema`, for a lean read (reads.py): its slice's, or
        the shared pool while its slice is full; a quiet tenant waits up to DB_SLICE_WAIT_MS for its
        slice first (affinity.py). Counted for recycling.

        A block that raises discards the connection instead of returning it: its state is unknown.
        """
        pooled, claimed = await self._checkout(schema)
        try:
            note_schema(pooled.info, schema, self.settings.db_recycle_after_schemas, pooled)
            yield pooled
        except BaseException:
            pooled.invalidate()
            raise
        finally:
            await greenlet_spawn(pooled.close)
            if claimed is not None and self.slices is not None:
                self.slices.release(claimed, schema)

    async def _checkout(self, schema: str) -> tuple[PoolProxiedConnection, int | None]:
        """A raw connection for a lean read of `schema`, and the slice it counts against (None: the
        shared pool)."""
        slices = self.slices
        claimed = None if slices is None else await slices.acquire(schema)
        try:
            engine = self.async_engine if slices is None or claimed is None else slices.engines[claimed]
            return await engine.raw_connection(), claimed
        except BaseException as exc:
            if slices is not None and claimed is not None:
                slices.release(claimed, schema)
            if isinstance(exc, psycopg.Error):  # the pool does not wrap what the driver raised connecting
                raise DBAPIError.instance(None, None, exc, psycopg.Error) from exc
            raise

    @contextmanager
    def sync_session(self, schema: str | None = None) -> Iterator[Session]:
        """A sync session for one tenant (or only `public`); caller commits."""
        with self._sync_sessions(bind=self.sync_engine_for(schema)) as session:
            yield session

    def dispose_sync(self) -> None:
        """Close the sync engine's pooled connections, if it was ever used."""
        if self._sync_engine is not None:
            self._sync_engine.dispose()

    async def dispose(self) -> None:
        """Close every pooled connection."""
        await self.async_engine.dispose()
        if self.slices is not None:
            await self.slices.dispose()
        self.dispose_sync()
