"""Lean reads (kernel/db/reads.py): the same answer as the ORM path, bound to one tenant, nothing left on
the pooled connection, a connection in doubt never reused."""

from __future__ import annotations

import asyncio
import json

import psycopg
import pytest
from sqlalchemy import func, select

from platform_core.items import service as item_service
from platform_core.items.models import Item
from platform_core.items.repository import LIST_COLUMNS, ItemFilter
from platform_core.items.schemas import ItemRead, ItemSort
from platform_core.kernel.db.dialect import TenantNotBoundError
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.reads import compiled_read
from platform_core.kernel.paging import PageParams
from platform_core.kernel.settings import to_libpq_url
from platform_core.kernel.tenancy import TenantReader
from tests.factories import create_items


def test_list_columns_are_the_api_fields():
    assert [column.name for column in LIST_COLUMNS] == list(ItemRead.model_fields)


@pytest.mark.parametrize(
    ("params", "flt", "sort", "paging"),
    [
        ({}, ItemFilter(), ItemSort.CREATED_DESC, PageParams()),
        ({"page_size": 3, "page": 2, "sort": "title"}, ItemFilter(), ItemSort.TITLE, PageParams(2, 3)),
        ({"status": "done"}, ItemFilter(status="done"), ItemSort.CREATED_DESC, PageParams()),
        ({"tag": "OPS", "sort": "-title"}, ItemFilter(tag="ops"), ItemSort.TITLE_DESC, PageParams()),
        ({"q": "50%_x", "sort": "created"}, ItemFilter(q="50%_x"), ItemSort.CREATED, PageParams()),
        ({"page": 40}, ItemFilter(), ItemSort.CREATED_DESC, PageParams(40, 20)),
    ],
)
async def test_lean_list_is_byte_for_byte_the_orm_answer(client_a, db, tenant_a, params, flt, sort, paging):
    await create_items(db, tenant_a, 4, tags=["ops"])
    await create_items(db, tenant_a, 3, title="Done thing", status="done", description=None)
    await create_items(db, tenant_a, title="Rate 50%_x", description="back\\slash")
    response = await client_a.get("/api/v1/items", params=params)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    async with db.session(tenant_a.schema_name) as session:
        page = await item_service.list_items(session, flt, sort=sort, paging=paging)
    assert response.content == page.model_dump_json().encode()
    assert json.loads(response.content)["total"] == page.total > 0


def _reader(db: Database, schema: str) -> TenantReader:
    return TenantReader(db, schema, {})


async def test_a_read_without_a_tenant_is_refused_before_it_is_sent(db, tenant_a):
    read = compiled_read(db.async_engine.dialect, ("test.items", 1), lambda: select(Item.id))
    for schema in ("", "__tenant__"):
        with pytest.raises(TenantNotBoundError):
            await _reader(db, schema).rows(read, {})
    assert "__tenant__" not in read.render(tenant_a.schema_name)
    assert f"{tenant_a.schema_name}.item" in read.render(tenant_a.schema_name)


async def test_two_tenants_read_their_own_rows(db, tenant_a, tenant_b):
    await create_items(db, tenant_a, title="only in a")
    await create_items(db, tenant_b, title="only in b")
    read = compiled_read(db.async_engine.dialect, ("test.titles", 1), lambda: select(Item.title))
    a = {title for (title,) in await _reader(db, tenant_a.schema_name).rows(read, {})}
    b = {title for (title,) in await _reader(db, tenant_b.schema_name).rows(read, {})}
    assert "only in a" in a
    assert "only in a" not in b
    assert "only in b" in b
    assert "only in b" not in a


@pytest.fixture
async def pooled_db(settings):
    """A Database with a real pool of one connection on committed data."""
    database = Database(settings, pool_size=1)
    yield database
    await database.dispose()


def _pid_read(db: Database):
    return compiled_read(db.async_engine.dialect, ("test.pid", 1), lambda: select(func.pg_backend_pid()))


async def test_autocommit_is_switched_back_off_before_the_connection_returns(pooled_db, tenant_a):
    [(pid,)] = await _reader(pooled_db, tenant_a.schema_name).rows(_pid_read(pooled_db), {})
    pooled = await pooled_db.async_engine.raw_connection()
    try:
        assert pooled.driver_connection.info.backend_pid == pid  # the same pooled connection
        assert pooled.driver_connection.autocommit is False
    finally:
        pooled.close()
    async with pooled_db.session(tenant_a.schema_name) as session:  # a session's transaction is one
        session.add(Item(title="rolled back"))
        await session.flush()
        await session.rollback()
    async with pooled_db.session(tenant_a.schema_name) as session:
        assert await session.scalar(select(func.count()).where(Item.title == "rolled back")) == 0


async def test_a_read_uses_the_sessions_connection_once_its_transaction_began(settings, tenant_a):
    database = Database(settings, pool_size=1)
    database.async_engine.pool._max_overflow = 0  # one connection in all: a second checkout would wait
    try:
        async with database.session(tenant_a.schema_name) as session:
            session_pid = await session.scalar(select(func.pg_backend_pid()))
            reader = TenantReader(database, tenant_a.schema_name, {"platform.unit_of_work": (None, session)})
            [(pid,)] = await asyncio.wait_for(reader.rows(_pid_read(database), {}), timeout=20)
            assert pid == session_pid
    finally:
        await database.dispose()


async def test_a_cancelled_read_discards_its_connection(pooled_db, tenant_a, settings):
    sleep = compiled_read(
        pooled_db.async_engine.dialect,
        ("test.sleep", 1),
        lambda: select(func.pg_backend_pid(), func.pg_sleep(30)),
    )
    task = asyncio.create_task(_reader(pooled_db, tenant_a.schema_name).rows(sleep, {}))
    watcher_url = to_libpq_url(settings.database_url)
    async with await psycopg.AsyncConnection.connect(watcher_url, autocommit=True) as watcher:
        for _ in range(400):  # until the server runs it
            cursor = await watcher.execute(
                "SELECT pid FROM pg_stat_activity WHERE state = 'active' AND query LIKE %s",
                ("%pg_backend_pid%pg_sleep%",),
            )
            if running := await cursor.fetchall():
                break
            await asyncio.sleep(0.05)
        assert running, task.exception() if task.done() else "the read never reached the server"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        [(pid,)] = await _reader(pooled_db, tenant_a.schema_name).rows(_pid_read(pooled_db), {})
        assert pid not in {row[0] for row in running}


async def test_a_lean_read_runs_on_its_tenants_slice_and_counts_toward_recycling(
    settings, tenant_a, tenant_b
):
    sliced = settings.model_copy(
        update={"db_tenant_affinity": True, "db_tenant_slices": 1, "db_slice_pool_size": 1}
    )
    sliced = sliced.model_copy(update={"db_recycle_after_schemas": 2})
    database = Database(sliced)
    try:
        assert database.slices is not None
        [slice_engine] = database.slices.engines
        read = _pid_read(database)
        [(first,)] = await _reader(database, tenant_a.schema_name).rows(read, {})
        assert slice_engine.pool.checkedin() == 1  # back in its slice's pool, not the shared one
        assert database.async_engine.pool.checkedin() == 0
        [(second,)] = await _reader(database, tenant_b.schema_name).rows(read, {})
        assert second == first  # the slice's one connection, now at its limit of two schemas
        [(third,)] = await _reader(database, tenant_a.schema_name).rows(read, {})
        assert third != first  # replaced before it served a third
    finally:
        await database.dispose()
