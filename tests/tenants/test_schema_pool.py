"""The warm pool: schemas built ahead of time, claimed by provisioning, migrated with the fleet."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import select, text
from typer.testing import CliRunner

from platform_core.access.models import Role
from platform_core.access.permissions import BUILTIN_ROLES
from platform_core.cli.main import app as cli
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import tenant_metadata
from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, Settings, get_settings
from tenants import pool as schema_pool
from tenants import pool_metrics, provisioning
from tenants.exceptions import SlugTaken
from tenants.fleet import upgrade_fleet
from tenants.models import PooledSchema, Tenant
from tests.conftest import make_settings
from tests.support.migrations import revision_source
from tests.support.tenants import TenantOps


@dataclass
class Env:
    settings: Settings
    db: Database
    ops: TenantOps
    migrations: Path

    def pooled(self) -> dict[uuid.UUID, str]:
        """Every pooled schema's id and recorded revision."""
        with self.db.sync_engine.connect() as conn:
            return {r.id: r.revision for r in conn.execute(select(PooledSchema.id, PooledSchema.revision))}

    def schema_exists(self, schema: str) -> bool:
        with self.db.sync_engine.connect() as conn:
            sql = text("SELECT count(*) FROM pg_namespace WHERE nspname = :s")
            return conn.execute(sql, {"s": schema}).scalar() == 1

    def version(self, schema: str) -> str:
        with self.db.sync_engine.connect() as conn:
            return conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar_one()

    def drain(self) -> None:
        with self.db.sync_engine.begin() as conn:
            schema_pool.drain(conn)

    def add_revision(self, message: str, body: str) -> str:
        """Add a tenant revision on top of the head; the new head."""
        down = head_revision(self.migrations, "tenant")
        revision = uuid.uuid4().hex[:12]
        source = revision_source(revision=revision, down=down, message=message, upgrade=(body,))
        (self.migrations / "tenant" / "versions" / f"2099_01_01_{revision}_test.py").write_text(source)
        script_directory.cache_clear()
        return revision


@pytest.fixture(scope="module")
def env(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """A database of its own (the pool is shared by everything in a database), with a copy of the
    migrations the fleet tests extend."""
    url = f"{settings.database_url}_pool"
    drop_database(url)
    ensure_database(url)
    migrations = tmp_path_factory.mktemp("pool-migrations") / "alembic"
    shutil.copytree(
        PROJECT_ROOT / "platform_core" / "migrations",
        migrations,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    pool_settings = make_settings(
        url, settings.redis_url, migrations_dir=migrations, tenant_schema_pool_size=3
    )
    from tenants.fleet import upgrade_public

    upgrade_public(pool_settings)
    db = Database(pool_settings, pool_size=4)
    yield Env(pool_settings, db, TenantOps(db, pool_settings), migrations)
    db.sync_engine.dispose()
    script_directory.cache_clear()
    drop_database(url)


@pytest.fixture
def empty_pool(env: Env) -> Iterator[Env]:
    env.drain()
    yield env
    env.drain()


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _tables(env: Env, schema: str) -> set[str]:
    with env.db.sync_engine.connect() as conn:
        rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
        return {r[0] for r in rows}


def test_top_up_builds_complete_empty_schemas_up_to_the_size(empty_pool: Env) -> None:
    env = empty_pool
    head = head_revision(env.migrations, "tenant")
    assert schema_pool.top_up(env.db.sync_engine, env.settings, size=3) == 3
    assert schema_pool.top_up(env.db.sync_engine, env.settings, size=3) == 0
    assert schema_pool.top_up(env.db.sync_engine, env.settings, size=4) == 1
    pooled = env.pooled()
    assert list(pooled.values()) == [head] * 4
    tables = {t.name for t in tenant_metadata().sorted_tables} | {"alembic_version"}
    for pooled_id in pooled:
        schema = f"t_{pooled_id.hex}"
        assert _tables(env, schema) == tables
        assert env.version(schema) == head
        with env.db.sync_engine.connect() as conn:  # the built-in roles, nothing of a tenant
            builtin = conn.scalars(text(f'SELECT name FROM "{schema}".role WHERE builtin')).all()
            assert sorted(builtin) == sorted(BUILTIN_ROLES)
            assert conn.execute(text(f'SELECT count(*) FROM "{schema}".user_account')).scalar() == 0
    with env.db.sync_engine.connect() as conn:
        assert schema_pool.status(conn, env.settings) == schema_pool.PoolStatus(head, ready=4, behind=0)


def test_a_signup_claims_the_oldest_pooled_schema_and_seeds_it(empty_pool: Env) -> None:
    env = empty_pool
    schema_pool.top_up(env.db.sync_engine, env.settings, size=2)
    with env.db.sync_engine.connect() as conn:
        oldest = conn.scalars(select(PooledSchema.id).order_by(PooledSchema.created_at)).first()
    tenant = env.ops.create(slug=_slug("warm"), name="Warm", owner_email="owner@warm.example.com")
    assert tenant.id == oldest
    assert tenant.schema_name == f"t_{oldest.hex}"
    assert oldest not in env.pooled()
    assert len(env.pooled()) == 1
    with env.db.sync_session(tenant.schema_name) as session:
        assert {r.name for r in session.scalars(select(Role))} >= {"owner", "member"}
    with env.db.sync_session() as session:
        row = session.get(Tenant, tenant.id)
        assert row is not None
        assert row.schema_revision == head_revision(env.migrations, "tenant")


def test_an_empty_pool_builds_the_schema_cold(empty_pool: Env) -> None:
    env = empty_pool
    tenant = env.ops.create(slug=_slug("cold"), name="Cold")
    assert env.pooled() == {}
    assert env.schema_exists(tenant.schema_name)
    assert env.version(tenant.schema_name) == head_revision(env.migrations, "tenant")


def test_a_failing_claim_rolls_back_and_the_schema_stays_pooled(empty_pool: Env) -> None:
    env = empty_pool
    taken = env.ops.create(slug=_slug("taken"), name="Taken")
    schema_pool.top_up(env.db.sync_engine, env.settings, size=1)
    (pooled_id,) = env.pooled()
    with pytest.raises(SlugTaken):
        env.ops.create(slug=taken.slug, name="Again")

    def failing_seed(session: object, tenant: Tenant) -> None:
        raise RuntimeError("the seed failed")

    with (
        pytest.raises(RuntimeError, match="the seed failed"),
        env.db.sync_session() as session,
        session.begin(),
    ):
        provisioning.create_tenant(
            session, settings=env.settings, slug=_slug("seed"), name="Seed", seed=failing_seed
        )
    assert list(env.pooled()) == [pooled_id]
    assert env.schema_exists(f"t_{pooled_id.hex}")
    with env.db.sync_session() as session:
        assert session.get(Tenant, pooled_id) is None
    assert env.ops.create(slug=_slug("then"), name="Then").id == pooled_id


def test_concurrent_claims_never_get_the_same_schema(empty_pool: Env) -> None:
    """Each claim's transaction stays open until all have claimed: the row locks are held together."""
    env = empty_pool
    claims = 3
    schema_pool.top_up(env.db.sync_engine, env.settings, size=claims - 1)
    head = head_revision(env.migrations, "tenant")
    all_claimed = threading.Barrier(claims, timeout=60)
    got: list[uuid.UUID | None] = []
    errors: list[BaseException] = []

    def claim() -> None:
        try:
            with env.db.sync_session() as session, session.begin():
                got.append(schema_pool.claim(session, head=head))
                all_claimed.wait()
        except BaseException as exc:  # reported below: a thread's exception is not the test's
            errors.append(exc)

    threads = [threading.Thread(target=claim) for _ in range(claims)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert None in got  # one more claim than pooled schemas: one found none
    claimed = [g for g in got if g is not None]
    assert len(claimed) == len(set(claimed)) == claims - 1
    assert env.pooled() == {}


def test_concurrent_signups_each_get_their_own_schema(empty_pool: Env) -> None:
    env = empty_pool
    schema_pool.top_up(env.db.sync_engine, env.settings, size=3)
    pooled = set(env.pooled())
    tenants: list[Tenant] = []
    errors: list[BaseException] = []

    def signup(n: int) -> None:
        try:
            tenants.append(env.ops.create(slug=_slug(f"race{n}"), name=f"Race {n}"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=signup, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert {t.id for t in tenants} == pooled


def test_the_fleet_migrates_pooled_schemas_and_claims_follow_the_head(empty_pool: Env) -> None:
    env = empty_pool
    schema_pool.top_up(env.db.sync_engine, env.settings, size=2)
    old_head = head_revision(env.migrations, "tenant")
    new_head = env.add_revision(
        "add item priority",
        'op.add_column("item", sa.Column("priority", sa.Integer(), nullable=False, server_default="0"))',
    )
    with env.db.sync_session() as session, session.begin():  # the pool has nothing at the new head
        assert schema_pool.claim(session, head=new_head) is None
        session.rollback()
    report = upgrade_fleet(env.settings, jobs=2, include_public=False)
    assert (report.pool_migrated, report.pool_dropped) == (2, 0)
    assert set(env.pooled().values()) == {new_head}
    for pooled_id in env.pooled():
        assert env.version(f"t_{pooled_id.hex}") == new_head
        assert "priority" in _columns(env, f"t_{pooled_id.hex}", "item")
    tenant = env.ops.create(slug=_slug("after"), name="After")
    assert tenant.id not in env.pooled()
    assert len(env.pooled()) == 1
    assert old_head != new_head
    again = upgrade_fleet(env.settings, jobs=1, include_public=False)
    assert (again.pool_migrated, again.pool_dropped) == (0, 0)


def test_a_pooled_schema_whose_migration_fails_is_dropped(empty_pool: Env) -> None:
    env = empty_pool
    schema_pool.top_up(env.db.sync_engine, env.settings, size=1)
    (pooled_id,) = env.pooled()
    env.add_revision("fail on pooled schemas", 'op.execute("SELECT 1 / 0")')
    try:
        report = upgrade_fleet(env.settings, jobs=1, include_public=False)
    finally:
        _remove_revision(env, "fail on pooled schemas")
    assert (report.pool_migrated, report.pool_dropped) == (0, 1)
    assert env.pooled() == {}
    assert not env.schema_exists(f"t_{pooled_id.hex}")


def _remove_revision(env: Env, message: str) -> None:
    for path in (env.migrations / "tenant" / "versions").glob("2099_*.py"):
        if message in path.read_text():
            path.unlink()
    script_directory.cache_clear()


def _columns(env: Env, schema: str, table: str) -> set[str]:
    with env.db.sync_engine.connect() as conn:
        sql = text(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = :s AND table_name = :t"
        )
        return {r[0] for r in conn.execute(sql, {"s": schema, "t": table})}


def test_platformctl_shows_fills_and_drains_the_pool(
    empty_pool: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = empty_pool
    monkeypatch.setenv("DATABASE_URL", env.settings.database_url)
    monkeypatch.setenv("MIGRATIONS_DIR", str(env.migrations))
    monkeypatch.setenv("TENANT_SCHEMA_POOL_SIZE", "2")
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()
    try:
        shown = runner.invoke(cli, ["tenants", "pool", "--json"])
        filled = runner.invoke(cli, ["tenants", "pool", "--fill", "--json"])
        text_out = runner.invoke(cli, ["tenants", "pool"])
        drained = runner.invoke(cli, ["tenants", "pool", "--drain", "--json"])
    finally:
        get_settings.cache_clear()
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.output)["ready"] == 0
    assert (json.loads(filled.output)["built"], json.loads(filled.output)["ready"]) == (2, 2)
    assert "2 ready" in text_out.output
    assert "target 2" in text_out.output
    assert (json.loads(drained.output)["dropped"], json.loads(drained.output)["ready"]) == (2, 0)


async def test_the_pool_gauges_count_ready_and_behind_schemas(empty_pool: Env) -> None:
    env = empty_pool
    schema_pool.top_up(env.db.sync_engine, env.settings, size=2)
    with env.db.sync_engine.begin() as conn:
        conn.execute(PooledSchema.__table__.update().values(revision="0ld"))  # as before a migration
    schema_pool.top_up(env.db.sync_engine, env.settings, size=1)
    db = Database(env.settings, pool_size=1)
    try:
        async with db.session(None) as session:
            await pool_metrics.refresher(env.settings)(session)
    finally:
        await db.dispose()
    assert (pool_metrics.READY._value.get(), pool_metrics.BEHIND._value.get()) == (1, 2)
