"""Tenant-affine pools and recycling by schemas served, on real PostgreSQL connections."""

from __future__ import annotations

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
