"""Tenant-affine pools and recycling by schemas served, on real PostgreSQL connections."""

from __future__ import annotations

import asyncio
import uuid
from contextlib import AsyncExitStack

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select

from platform_core.items.models import Item
from platform_core.kernel.db.affinity import slice_of
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.recycling import schemas_seen
from tests.conftest import make_settings


def _sample(name: str) -> float:
    """A counter's value in this process's Prometheus registry (what /metrics exports)."""
    return REGISTRY.get_sample_value(name) or 0.0


SLICES = 4


@pytest.fixture(scope="module")
def schemas(tenant_service) -> list[str]:
    """Committed tenant schemas: enough that every one of SLICES slices serves at least one."""
    suffix = uuid.uuid4().hex[:6]
    made: list[str] = []
    n = 0
    while len({slice_of(s, SLICES) for s in made}) < SLICES or len(made) < 6:
        made.append(tenant_service.create(slug=f"aff-{n}-{suffix}", name=f"Aff {n}").schema_name)
        n += 1
    return made


def _database(settings, **overrides) -> Database:
    return Database(make_settings(settings.database_url, settings.redis_url, **overrides))


async def _backend_of(db: Database, schema: str) -> tuple[int, object]:
    """Run a tenant query in a session of `schema`; the backend pid and the pool it ran on."""
    async with db.session(schema) as session:
        await session.scalar(select(func.count()).select_from(Item))
        pid = await session.scalar(select(func.pg_backend_pid()))
        return int(pid), session.get_bind().pool


async def test_a_tenant_always_lands_on_its_slice(settings, schemas):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_recycle_after_schemas=0)
    try:
        assert db.slices is not None
        backends: dict[int, set[int]] = {}
        for _ in range(3):
            for schema in schemas:
                pid, pool = await _backend_of(db, schema)
                index = slice_of(schema, SLICES)
                assert pool is db.slices.engines[index].pool
                backends.setdefault(index, set()).add(pid)
        # One connection per slice: every session of a slice's tenants ran on that slice's one backend,
        # and no two slices share one.
        assert all(len(pids) == 1 for pids in backends.values())
        assert len(set().union(*backends.values())) == SLICES
    finally:
        await db.dispose()


async def test_a_full_slice_spills_to_the_shared_pool_never_to_another_slice(settings, schemas):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_pool_size=2)
    schema = schemas[0]
    spills_before = _sample("platform_db_slice_spills_total")
    try:
        assert db.slices is not None
        async with AsyncExitStack() as stack:
            held = await stack.enter_async_context(db.session(schema))
            await held.scalar(select(func.count()).select_from(Item))
            assert held.get_bind().pool is db.slices.engines[slice_of(schema, SLICES)].pool
            pid, pool = await _backend_of(db, schema)  # its slice's one connection is taken
            assert pool is db.async_engine.pool
            assert db.slices.spilled == 1
            assert _sample("platform_db_slice_spills_total") == spills_before + 1
        pid_after, pool_after = await _backend_of(db, schema)  # the slice is free again
        assert pool_after is db.slices.engines[slice_of(schema, SLICES)].pool
        assert pid_after != pid
        assert db.slices.open_sessions == [0] * SLICES
    finally:
        await db.dispose()


async def test_without_affinity_every_tenant_shares_one_pool(settings, schemas):
    db = _database(settings, db_tenant_affinity=False, db_pool_size=1, db_max_overflow=0)
    try:
        assert db.slices is None
        found = {await _backend_of(db, schema) for schema in schemas[:3]}
        assert found == {(next(iter(found))[0], db.async_engine.pool)}
    finally:
        await db.dispose()


async def test_a_connection_is_recycled_after_serving_m_schemas(settings, schemas):
    db = _database(
        settings, db_tenant_affinity=False, db_pool_size=1, db_max_overflow=0, db_recycle_after_schemas=3
    )
    first, second, third, fourth = schemas[:4]
    recycled_before = _sample("platform_db_connections_recycled_total")
    try:
        pid, _ = await _backend_of(db, first)
        assert (await _backend_of(db, first))[0] == pid  # the same schema again counts once
        assert (await _backend_of(db, second))[0] == pid
        assert (await _backend_of(db, third))[0] == pid  # the third one still runs on it...
        assert _sample("platform_db_connections_recycled_total") == recycled_before + 1
        replaced, _ = await _backend_of(db, fourth)  # ...and the next session gets a new backend
        assert replaced != pid
        async with db.async_engine_for(fourth).connect() as conn:
            assert conn.sync_connection is not None
            # The count starts again with the new backend.
            assert schemas_seen(conn.sync_connection) == {fourth}
    finally:
        await db.dispose()


def test_the_sync_engine_recycles_too(settings, schemas):
    db = Database(
        make_settings(
            settings.database_url, settings.redis_url, db_recycle_after_schemas=2, db_max_overflow=0
        ),
        pool_size=1,
    )
    try:
        pids = []
        for schema in schemas[:3]:
            with db.sync_session(schema) as session:
                session.scalar(select(func.count()).select_from(Item))
                pids.append(session.scalar(select(func.pg_backend_pid())))
        assert pids[0] == pids[1] != pids[2]
    finally:
        db.dispose_sync()


async def test_public_sessions_are_not_counted(settings, schemas):
    db = _database(
        settings, db_tenant_affinity=False, db_pool_size=1, db_max_overflow=0, db_recycle_after_schemas=1
    )
    try:
        pids = set()
        for _ in range(3):
            async with db.session(None) as session:
                pids.add(await session.scalar(select(func.pg_backend_pid())))
        assert len(pids) == 1
    finally:
        await db.dispose()


def _same_slice(schemas: list[str]) -> tuple[str, str]:
    """Two tenant schemas that hash to the same slice (6 schemas over 4 slices: there is a pair)."""
    by_slice: dict[int, list[str]] = {}
    for schema in schemas:
        by_slice.setdefault(slice_of(schema, SLICES), []).append(schema)
    pair = next(found for found in by_slice.values() if len(found) >= 2)
    return pair[0], pair[1]


async def _until(condition) -> None:
    """Wait (yielding to the event loop) until `condition()` holds; fail after 10 seconds."""
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 (the pool's own state: it sets no event to await)
            await asyncio.sleep(0.005)


def _pid(pooled) -> int:
    return int(pooled.driver_connection.info.backend_pid)


async def _read_pid(db: Database, schema: str) -> int:
    """The backend a lean read of `schema` ran on."""
    async with db.pooled_connection(schema) as pooled:
        return _pid(pooled)


async def test_a_quiet_tenants_read_waits_for_its_full_slice_instead_of_spilling(settings, schemas):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_slice_wait_ms=10_000)
    busy, quiet = _same_slice(schemas)
    index = slice_of(busy, SLICES)
    waits_before = _sample("platform_db_slice_waits_total")
    try:
        assert db.slices is not None
        slices = db.slices
        async with db.pooled_connection(busy) as held:
            slice_pid = _pid(held)
            waiting = asyncio.create_task(_read_pid(db, quiet))
            await _until(lambda: slices.waiting(index) == 1)  # queued behind the held one
            assert not waiting.done()
            assert slices.spilled == 0
            assert slices.open_sessions[index] == 1
        assert await waiting == slice_pid  # its slice's one backend, once it was free
        assert slices.spilled == 0
        assert _sample("platform_db_slice_waits_total") == waits_before + 1
        assert slices.open_sessions == [0] * SLICES
        assert slices.open_by_schema == {}
    finally:
        await db.dispose()


@pytest.mark.parametrize("when", ["while-waiting", "as-its-slot-arrives"])
async def test_a_cancelled_wait_leaves_no_slot_taken(settings, schemas, when):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_slice_wait_ms=10_000)
    busy, quiet = _same_slice(schemas)
    index = slice_of(busy, SLICES)
    try:
        assert db.slices is not None
        slices = db.slices
        async with db.pooled_connection(busy):
            waiting = asyncio.create_task(_read_pid(db, quiet))
            await _until(lambda: slices.waiting(index) == 1)
            if when == "while-waiting":
                waiting.cancel()
        if when == "as-its-slot-arrives":
            # The held read's release handed its slot to the waiting one, which has not run since:
            # cancelled now, it must pass the slot on instead of keeping it.
            assert slices.waiting(index) == 0
            waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert slices.open_sessions == [0] * SLICES
        assert slices.open_by_schema == {}
        assert await _read_pid(db, quiet)  # the slice serves again
        assert slices.spilled == 0
    finally:
        await db.dispose()


async def test_a_tenant_with_a_read_open_spills_at_once(settings, schemas):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_slice_wait_ms=10_000)
    schema = schemas[0]
    try:
        assert db.slices is not None
        async with db.pooled_connection(schema) as held:
            # Busier than its slice: a second read of the same tenant does not queue behind the first
            # (which also keeps a request that reads twice from waiting on itself).
            assert await _read_pid(db, schema) != _pid(held)
            assert db.slices.spilled == 1
            assert db.slices.open_by_schema == {schema: 1}
    finally:
        await db.dispose()


@pytest.mark.parametrize("wait_ms", [50, 0], ids=["after-waiting-its-time", "without-a-wait"])
async def test_a_quiet_tenants_read_spills_when_its_slice_stays_full(settings, schemas, wait_ms):
    db = _database(settings, db_tenant_slices=SLICES, db_slice_pool_size=1, db_slice_wait_ms=wait_ms)
    busy, quiet = _same_slice(schemas)
    spills_before = _sample("platform_db_slice_spills_total")
    try:
        assert db.slices is not None
        async with db.pooled_connection(busy) as held:
            # The slice stays taken: the read gives up its place (at once, or after wait_ms) and runs
            # on the shared pool.
            assert await _read_pid(db, quiet) != _pid(held)
            assert db.slices.spilled == 1
            assert _sample("platform_db_slice_spills_total") == spills_before + 1
            assert db.slices.open_sessions[slice_of(busy, SLICES)] == 1
            assert db.slices.open_by_schema == {busy: 1}
    finally:
        await db.dispose()
