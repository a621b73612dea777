"""Fleet migrations through `platformctl db upgrade/status`: parallel, resumable, reporting failures."""

from __future__ import annotations

import argparse
import re
import shutil
import uuid
from pathlib import Path

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool, text
from typer.testing import CliRunner

from platform_core.cli.main import app as cli
from platform_core.kernel.db.alembic_config import alembic_config
from platform_core.kernel.db.binding import bind_migration
from platform_core.kernel.db.bootstrap import drop_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, get_settings, to_libpq_url
from tenants.fleet import (
    FLEET_LOCK_KEY,
    TenantRef,
    migrate_tenant,
    read_revisions,
    unqualified_tenant_metadata,
    upgrade_fleet,
)
from tenants.models import Tenant
from tests.support.migrations import (
    ADD_PRIORITY,
    DROP_PRIORITY,
    database_with_migrations_copy,
    revision_source,
)
from tests.support.tenants import TenantOps

NEW_REVISION = "f1ee7000beef"


@pytest.fixture(scope="module")
def fleet(settings, tmp_path_factory):
    """A database of its own with three tenants, and a copy of the migrations we can extend."""
    fleet_settings = database_with_migrations_copy(settings, "_fleet", tmp_path_factory.mktemp("migrations"))
    db = Database(fleet_settings, pool_size=1)
    service = TenantOps(db, fleet_settings)
    tenants = [service.create(slug=f"fleet-{n}", name=n) for n in ("one", "two", "three")]
    yield fleet_settings, tenants
    db.sync_engine.dispose()
    drop_database(fleet_settings.database_url)


@pytest.fixture
def run_cli(fleet, monkeypatch):
    fleet_settings, _ = fleet
    monkeypatch.setenv("DATABASE_URL", fleet_settings.database_url)
    monkeypatch.setenv("MIGRATIONS_DIR", str(fleet_settings.migrations_dir))
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args: runner.invoke(cli, list(args))
    get_settings.cache_clear()


def _sql(settings, statement: str):
    with psycopg.connect(to_libpq_url(settings.database_url), autocommit=True) as conn:
        cursor = conn.execute(statement)
        return cursor.fetchall() if cursor.description else None


def _assert_rounded_milliseconds(output: str) -> None:
    """The per-tenant durations are printed to a tenth of a millisecond, not to 13 digits."""
    match = re.search(r"per tenant: p50 (\S+) ms, p99 (\S+) ms", output)
    assert match, output
    assert all(re.fullmatch(r"\d+(\.\d)?", value) for value in match.groups()), match.group(0)


def test_no_op_upgrade_skips_every_tenant(run_cli):
    result = run_cli("db", "upgrade", "--jobs", "2")
    assert result.exit_code == 0, result.output
    assert "3 tenants, 3 already at head, 0 migrated, 0 failed" in result.output
    status = run_cli("db", "status")
    assert status.exit_code == 0
    assert "every tenant is at head" in status.output


def test_failing_tenant_is_reported_others_continue_and_rerun_resumes(fleet, run_cli):
    fleet_settings, (one, two, _three) = fleet
    versions = fleet_settings.migrations_dir / "tenant" / "versions"
    old_head = _sql(fleet_settings, f'SELECT version_num FROM "{one.schema_name}".alembic_version')[0][0]
    source = revision_source(
        revision=NEW_REVISION,
        down=old_head,
        message="add item priority",
        upgrade=ADD_PRIORITY,
        downgrade=DROP_PRIORITY,
    )
    (versions / "2026_11_22_f1ee7000beef_add_item_priority.py").write_text(source)
    # Break tenant two: the column the migration adds is already there.
    _sql(fleet_settings, f'ALTER TABLE "{two.schema_name}".item ADD COLUMN priority int')

    result = run_cli("db", "upgrade", "--jobs", "2")
    assert result.exit_code == 1, result.output
    assert "3 tenants, 0 already at head, 2 migrated, 1 failed" in result.output
    assert "fleet-two" in result.output
    assert "DuplicateColumn" in result.output
    _assert_rounded_milliseconds(result.output)
    rows = dict(_sql(fleet_settings, "SELECT slug, schema_revision FROM public.tenant"))
    assert rows == {"fleet-one": "f1ee7000beef", "fleet-two": old_head, "fleet-three": "f1ee7000beef"}
    [(error,)] = _sql(fleet_settings, "SELECT migration_error FROM public.tenant WHERE slug = 'fleet-two'")
    assert "priority" in error
    # The failed tenant's transaction rolled back whole: no index, version unchanged.
    assert _sql(fleet_settings, f'SELECT version_num FROM "{two.schema_name}".alembic_version') == [
        (old_head,)
    ]

    status = run_cli("db", "status")
    assert status.exit_code == 1
    assert "fleet-two" in status.output
    assert "fleet-one" not in status.output

    _sql(fleet_settings, f'ALTER TABLE "{two.schema_name}".item DROP COLUMN priority')
    rerun = run_cli("tenants", "migrate", "fleet-two")  # the one that failed: `db upgrade` does the same
    assert rerun.exit_code == 0, rerun.output
    assert "1 tenants, 0 already at head, 1 migrated, 0 failed" in rerun.output
    _assert_rounded_milliseconds(rerun.output)
    typo = run_cli("tenants", "migrate", "fleet-tow")
    assert typo.exit_code == 1
    assert "tenant_not_found" in typo.output
    assert _sql(fleet_settings, "SELECT count(*) FROM public.tenant WHERE migration_error IS NOT NULL") == [
        (0,)
    ]
    indexes = _sql(fleet_settings, f"SELECT indexname FROM pg_indexes WHERE schemaname = '{two.schema_name}'")
    assert ("ix_item_priority",) in indexes


def test_concurrent_upgrade_is_refused(fleet, run_cli):
    fleet_settings, _ = fleet
    with psycopg.connect(to_libpq_url(fleet_settings.database_url), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (FLEET_LOCK_KEY,))
        result = run_cli("db", "upgrade")
    assert result.exit_code == 2
    assert "another `db upgrade` is running" in result.output


def test_new_tenants_are_created_at_the_new_head(fleet):
    fleet_settings, _ = fleet
    db = Database(fleet_settings, pool_size=1)
    try:
        tenant = TenantOps(db, fleet_settings).create(slug=f"late-{uuid.uuid4().hex[:6]}", name="Late")
    finally:
        db.sync_engine.dispose()
    report = upgrade_fleet(fleet_settings, jobs=1, include_public=False, only=[tenant.slug])
    assert (report.total, report.skipped, report.results) == (1, 1, [])


def test_migrations_from_base_match_the_models(settings):
    """Provisioning uses create_all; a schema migrated from base must come out identical."""
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    schema = f"t_{uuid.uuid4().hex}"
    try:
        with engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        result = migrate_tenant(engine, settings.migrations_dir, TenantRef(uuid.uuid4(), "drift", schema))
        assert result.error is None
        assert result.from_revision is None
        with engine.begin() as conn:
            bind_migration(conn, schema, reflect=True)
            context = MigrationContext.configure(conn, opts={"include_object": _not_version_table})
            assert compare_metadata(context, unqualified_tenant_metadata()) == []
    finally:
        with engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _not_version_table(obj, name, type_, reflected, compare_to):
    return not (type_ == "table" and name == "alembic_version")


def test_registry_records_tenant_revision(fleet):
    fleet_settings, _ = fleet
    revisions = {r[0] for r in _sql(fleet_settings, "SELECT schema_revision FROM public.tenant")}
    assert None not in revisions
    assert Tenant.__table__.schema == "public"


def test_autogenerate_against_a_tenant_at_head_finds_nothing_to_do(settings, tenant_a, tmp_path):
    """env.py binds the authoring connection as the fleet does; a tenant at head differs in nothing."""
    migrations = tmp_path / "migrations"
    shutil.copytree(
        PROJECT_ROOT / "platform_core" / "migrations",
        migrations,
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    cfg = alembic_config(migrations, "tenant", settings.sync_database_url)
    cfg.cmd_opts = argparse.Namespace(autogenerate=True, x=[f"schema={tenant_a.schema_name}"])
    script = command.revision(cfg, message="nothing", autogenerate=True)
    assert script is not None
    source = Path(script.path).read_text()
    upgrade = source.split("def upgrade()", 1)[1].split("def downgrade()", 1)[0]
    assert "op." not in upgrade, upgrade


def test_reading_revisions_holds_no_locks_on_the_version_tables(fleet):
    """Revisions are read inside the caller's transaction without keeping a lock per schema (with
    10,000 schemas, one lock each would exhaust the lock table); every stamped schema is found."""
    fleet_settings, tenants = fleet
    engine = create_engine(fleet_settings.sync_database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            revisions = read_revisions(conn, [t.schema_name for t in tenants])
            held = conn.execute(
                text(
                    "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                    "WHERE l.pid = pg_backend_pid() AND c.relname = 'alembic_version'"
                )
            ).scalar_one()
            assert conn.in_transaction()
    finally:
        engine.dispose()
    assert held == 0
    assert set(revisions) == {t.schema_name for t in tenants}
    assert None not in revisions.values()
