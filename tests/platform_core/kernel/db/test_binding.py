"""Schema binding: per transaction, never leaking across pooled connections, failing closed."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

import httpx
import pytest
import sqlalchemy as sa
from alembic.operations import Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import select, text
from sqlalchemy.exc import ProgrammingError
from sqlalchemy.schema import CreateSchema, DropSchema

from platform_core.access.permissions import builtin_role_id
from platform_core.app.main import create_app
from platform_core.items.models import Item
from platform_core.kernel.db.binding import (
    PUBLIC_SCHEMA,
    bind_connection,
    bind_migration,
    bound_schema,
    in_schema,
    qualify,
)
from platform_core.kernel.db.engines import Database, TenantNotBoundError
from platform_core.kernel.tenancy import TenantSessionDep
from tenants.models import Tenant
from tests.conftest import BASE_DOMAIN, make_settings
from tests.factories import UserFactory, access_token, create_items
from tests.support.pgbouncer import find_pgbouncer, pgbouncer


@dataclass(frozen=True)
class BoundTenant:
    """A committed tenant and an owner's access token for it."""

    id: uuid.UUID
    slug: str
    schema_name: str
    token: str


@pytest.fixture(scope="module")
def bound_tenants(tenant_service, sync_db, settings):
    """Two tenants with committed items of their own (real commits: binding is about real connections)."""
    suffix = uuid.uuid4().hex[:6]
    tenants = [tenant_service.create(slug=f"bind-{n}-{suffix}", name=n) for n in ("one", "two")]
    bound = []
    for tenant in tenants:
        owner = UserFactory.build(role_id=builtin_role_id("owner"))
        with sync_db.sync_session(tenant.schema_name) as session:
            session.add_all(Item(title=f"{tenant.slug} #{i}", tags=[tenant.slug]) for i in range(5))
            session.add(owner)
            session.commit()
        token = access_token(settings, tenant, owner.id)
        bound.append(BoundTenant(tenant.id, tenant.slug, tenant.schema_name, token))
    return bound


def _app_with_pool(settings, *, size: int, **overrides):
    overrides.setdefault("db_tenant_affinity", False)  # one pool for every tenant (slices: test_affinity.py)
    test_settings = make_settings(
        settings.database_url, settings.redis_url, db_pool_size=size, db_max_overflow=0, **overrides
    )
    database = Database(test_settings)
    return create_app(test_settings, db=database, access_log=False), database


async def _interleave(app, tenants, rounds: int = 40) -> None:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://unused") as client:

        async def fetch(tenant):
            headers = {"host": f"{tenant.slug}.{BASE_DOMAIN}", "authorization": f"Bearer {tenant.token}"}
            response = await client.get("/api/v1/items", params={"page_size": 100}, headers=headers)
            assert response.status_code == 200, response.text
            return tenant, response.json()

        results = await asyncio.gather(*(fetch(tenants[i % 2]) for i in range(rounds)))
    for tenant, body in results:
        assert body["total"] == 5
        assert {tuple(item["tags"]) for item in body["items"]} == {(tenant.slug,)}


async def test_interleaved_requests_through_one_connection_never_mix(settings, bound_tenants):
    app, database = _app_with_pool(settings, size=1)
    try:
        await _interleave(app, bound_tenants)
        assert database.async_engine.pool.size() == 1
        assert database.async_engine.pool.overflow() <= 0
    finally:
        await app.state.redis.aclose()
        await database.dispose()


async def test_exception_mid_request_leaves_no_tenant_bound(settings, bound_tenants):
    app, database = _app_with_pool(settings, size=1)
    one, two = bound_tenants

    @app.get("/boom")
    async def boom(session: TenantSessionDep) -> None:
        """Read tenant data, then fail."""
        await session.execute(select(Item))
        raise RuntimeError("mid-request failure")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(
            transport=transport, base_url=f"http://{one.slug}.{BASE_DOMAIN}"
        ) as client:
            response = await client.get("/boom")
            assert response.status_code == 500
            assert response.json()["error"]["code"] == "internal_error"
        # The same (only) pooled connection: no tenant on it, no transaction left open.
        async with database.async_engine.connect() as conn:
            assert await conn.scalar(text("SELECT current_setting('search_path')")) == '"$user", public'
            assert await conn.scalar(
                text("SELECT count(*) FROM pg_stat_activity WHERE pid = pg_backend_pid()")
            )
        async with database.session(None) as session:
            with pytest.raises(TenantNotBoundError):
                await session.execute(select(Item))
        await _interleave(app, [two, two], rounds=4)
    finally:
        await app.state.redis.aclose()
        await database.dispose()


async def test_query_with_no_tenant_bound_fails_closed(settings, sync_db):
    database = Database(settings, pool_size=1)
    try:
        async with database.session(None) as session:
            with pytest.raises(TenantNotBoundError):
                await session.execute(select(Item))
    finally:
        await database.dispose()
    with sync_db.sync_session(None) as session, pytest.raises(TenantNotBoundError):
        session.execute(select(Item).where(Item.title == "x"))


def test_unqualified_raw_sql_cannot_reach_tenant_tables(sync_db, bound_tenants):
    with sync_db.sync_session(None) as session, pytest.raises(ProgrammingError, match="item"):
        session.execute(text("SELECT title FROM item"))


def test_sessions_of_two_tenants_see_different_rows_for_the_same_query(sync_db, bound_tenants):
    one, two = bound_tenants
    with sync_db.sync_session(one.schema_name) as a, sync_db.sync_session(two.schema_name) as b:
        titles_a = set(a.scalars(select(Item.title)))
        titles_b = set(b.scalars(select(Item.title)))
    assert titles_a
    assert titles_b
    assert not titles_a & titles_b


@pytest.mark.skipif(
    find_pgbouncer() is None, reason="needs the pgbouncer binary (Debian package 'pgbouncer'); not installed"
)
async def test_binding_holds_behind_pgbouncer_transaction_mode(settings, bound_tenants):
    with pgbouncer(settings.database_url, server_pool_size=1) as url:
        app, database = _app_with_pool(
            settings.model_copy(update={"database_url": url}), size=8, db_behind_pgbouncer=True
        )
        try:
            await _interleave(app, bound_tenants, rounds=60)
            async with database.async_engine.connect() as conn:
                # Many client connections, one server connection: transactions really were multiplexed.
                pids = {await conn.scalar(text("SELECT pg_backend_pid()")) for _ in range(3)}
            assert len(pids) == 1
        finally:
            await app.state.redis.aclose()
            await database.dispose()


def test_the_guarded_dialect_keeps_the_compiled_cache(sync_db):
    """Statements compile once per shape (a dialect subclass without the flag would compile every time)."""
    assert sync_db.sync_engine.dialect.supports_statement_cache is True
    assert sync_db.async_engine.dialect.supports_statement_cache is True
    assert sync_db.sync_engine.dialect.driver == "psycopg"


# --- binding.py: the one place tenancy is bound -------------------------------------------------------


def test_in_schema_reaches_another_tenant_inside_the_session_and_leaves_it_bound(sync_db, bound_tenants):
    one, two = bound_tenants
    with sync_db.sync_session(one.schema_name) as session:
        own = set(session.scalars(select(Item.title)))
        other = set(in_schema(session, two.schema_name).scalars(select(Item.title)))
        again = set(session.scalars(select(Item.title)))
        assert not session.identity_map  # rows, not entities: nothing of tenant two in the identity map
    assert own == again
    assert other
    assert not own & other
    assert all(title.startswith(two.slug) for title in other)


async def test_in_schema_public_reads_public_tables_and_refuses_tenant_tables(settings, bound_tenants):
    one, _ = bound_tenants
    database = Database(settings, pool_size=1)
    try:
        async with database.session(one.schema_name) as session:
            public = in_schema(session, PUBLIC_SCHEMA)
            assert await public.scalar(select(Tenant.slug).where(Tenant.id == one.id)) == one.slug
            with pytest.raises(TenantNotBoundError):
                await public.execute(select(Item.title))
            await session.rollback()
            assert len((await session.scalars(select(Item.title))).all()) == 5  # still bound to one
    finally:
        await database.dispose()


def test_bind_connection_gives_the_connection_its_binding_back(sync_db, bound_tenants):
    one, two = bound_tenants
    with sync_db.sync_engine_for(one.schema_name).connect() as conn:
        with bind_connection(conn, two.schema_name):
            assert all(t.startswith(two.slug) for t in conn.scalars(select(Item.title)))
        with pytest.raises(RuntimeError), bind_connection(conn, None):
            raise RuntimeError("the block fails")
        assert all(t.startswith(one.slug) for t in conn.scalars(select(Item.title)))


def test_a_migration_binding_names_the_schema_and_refuses_unqualified_sql(settings, sync_db):
    schema = f"t_{uuid.uuid4().hex}"
    engine = sync_db.sync_engine
    try:
        with engine.begin() as conn:
            conn.execute(CreateSchema(schema))
            bind_migration(conn, schema)
            operations = Operations(MigrationContext.configure(conn))
            # SQLAlchemy's DDL, then Alembic's own ALTER TABLE, both naming no schema.
            operations.create_table("thing", sa.Column("id", sa.Integer, primary_key=True))
            operations.add_column("thing", sa.Column("label", sa.Text))
            operations.execute(f"COMMENT ON TABLE {qualify(conn, 'thing')} IS 'raw SQL, qualified'")
            assert bound_schema(conn) == schema
        with engine.connect() as conn:
            query = "SELECT column_name FROM information_schema.columns WHERE table_schema = :s"
            columns = conn.scalars(text(query), {"s": schema})
            assert set(columns) == {"id", "label"}
            assert conn.scalar(text("SELECT to_regclass('public.thing')")) is None
        with engine.connect() as conn:
            bind_migration(conn, schema)
            with pytest.raises(ProgrammingError, match="no schema has been selected"):
                conn.execute(text("CREATE TABLE stray (id int)"))  # unqualified: not in public, refused
        with engine.connect() as conn, pytest.raises(TenantNotBoundError):
            bound_schema(conn)
    finally:
        with engine.begin() as conn:
            conn.execute(DropSchema(schema, cascade=True, if_exists=True))


async def test_test_sessions_are_the_production_binding(db, tenant_a, tenant_b):
    """The `db` fixture's sessions are made by Database.session on engine copies, as in production."""
    async with db.session(tenant_a.schema_name) as a, db.session(tenant_b.schema_name) as b:
        assert a.bind is db.async_engine_for(tenant_a.schema_name)
        assert a.bind.get_execution_options()["schema_translate_map"] == {"__tenant__": tenant_a.schema_name}
        a.add(Item(title="only alpha's"))
        await a.commit()
        titles_a, titles_b = await asyncio.gather(
            a.scalars(select(Item.title)), b.scalars(select(Item.title))
        )
        assert "only alpha's" in titles_a.all()
        assert "only alpha's" not in titles_b.all()
        assert await a.scalar(text("SELECT current_setting('search_path')")) == '"$user", public'


async def test_the_same_id_in_two_tenants_is_two_objects_one_session_each(db, tenant_a, tenant_b):
    """The identity map keys objects by class and primary key, not schema: one session, one tenant."""
    shared = uuid.uuid4()
    for tenant in (tenant_a, tenant_b):
        await create_items(db, tenant, id=shared, title=f"{tenant.slug}'s")
    async with db.session(tenant_a.schema_name) as a, db.session(tenant_b.schema_name) as b:
        assert (await a.get(Item, shared)).title == "alpha's"
        assert (await b.get(Item, shared)).title == "beta's"
        beta = in_schema(a, tenant_b.schema_name)
        assert await beta.scalar(select(Item.title).where(Item.id == shared)) == "beta's"
        assert (await a.get(Item, shared)).title == "alpha's"  # beta's row never became alpha's entity
        a.expunge_all()
        assert (await a.get(Item, shared)).title == "alpha's"
