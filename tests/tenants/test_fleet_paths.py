"""The fleet runner's two paths (a few tenants in this process, more in worker processes) and its
recycled connections: every tenant migrated, a failing one recorded without stopping the others."""

from __future__ import annotations

import multiprocessing
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text

from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.bootstrap import drop_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings, to_libpq_url
from tenants import fleet
from tenants.fleet import TenantResult, upgrade_fleet
from tests.support.migrations import (
    ADD_PRIORITY,
    DROP_PRIORITY,
    database_with_migrations_copy,
    revision_source,
)
from tests.support.tenants import TenantOps

REVISION = "f1ee7000cafe"


class Fleet:
    """A database of its own with three tenants at head, and a copy of the migrations to extend."""

    def __init__(self, settings: Settings, tenants: list[Any], pids: Path) -> None:
        self.settings = settings
        self.tenants = tenants
        self.pids = pids
        self.old_head = head_revision(settings.migrations_dir, "tenant")

    def add_revision(self) -> None:
        """The next revision: a column and an index on `item`."""
        versions = Path(self.settings.migrations_dir) / "tenant" / "versions"
        # A column and its index on `item`; the PostgreSQL backend that ran it is appended to a file.
        note_backend = (
            'pid = op.get_bind().execute(sa.text("SELECT pg_backend_pid()")).scalar()',
            f"with open({str(self.pids)!r}, 'a') as out:",
            '    out.write(f"{pid}\\n")',
        )
        source = revision_source(
            revision=REVISION,
            down=self.old_head,
            message="add item priority, noting the backend",
            upgrade=(*ADD_PRIORITY, *note_backend),
            downgrade=DROP_PRIORITY,
        )
        (versions / f"2099_01_01_{REVISION}_add_item_priority.py").write_text(source)
        script_directory.cache_clear()

    def sql(self, statement: str) -> list[tuple[Any, ...]]:
        """Rows of a statement run on a connection of its own."""
        with psycopg.connect(to_libpq_url(self.settings.database_url), autocommit=True) as conn:
            cursor = conn.execute(statement.encode())
            return cursor.fetchall() if cursor.description else []

    def backends(self) -> list[int]:
        """The backends that ran the new revision, one line per tenant migrated."""
        return [int(line) for line in self.pids.read_text().split()] if self.pids.exists() else []


@pytest.fixture
def small_fleet(settings, tmp_path):
    fleet_settings = database_with_migrations_copy(settings, "_paths", tmp_path)
    db = Database(fleet_settings, pool_size=1)
    try:
        ops = TenantOps(db, fleet_settings)
        tenants = [ops.create(slug=f"paths-{n}", name=n) for n in ("one", "two", "three")]
    finally:
        db.sync_engine.dispose()
    yield Fleet(fleet_settings, tenants, tmp_path / "pids.txt")
    script_directory.cache_clear()
    drop_database(fleet_settings.database_url)


def _children_seen(results: list[tuple[TenantResult, int]]) -> set[int]:
    return {children for _, children in results}


def _migrate(small_fleet: Fleet, jobs: int) -> tuple[fleet.FleetReport, list[tuple[TenantResult, int]]]:
    seen: list[tuple[TenantResult, int]] = []
    report = upgrade_fleet(
        small_fleet.settings,
        jobs=jobs,
        include_public=False,
        on_result=lambda r: seen.append((r, len(multiprocessing.active_children()))),
    )
    return report, seen


def test_a_few_tenants_are_migrated_in_this_process_on_one_connection(small_fleet):
    small_fleet.add_revision()
    report, seen = _migrate(small_fleet, jobs=4)
    assert (report.total, report.skipped, len(report.migrated), report.failed) == (3, 0, 3, [])
    assert _children_seen(seen) == {0}  # no worker process was started
    assert {(r.from_revision, r.to_revision) for r in report.results} == {(small_fleet.old_head, REVISION)}
    assert len(set(small_fleet.backends())) == 1  # the three tenants on one kept connection
    schemas = [t.schema_name for t in small_fleet.tenants]
    for schema in schemas:
        assert small_fleet.sql(f'SELECT version_num FROM "{schema}".alembic_version') == [(REVISION,)]
    assert dict(small_fleet.sql("SELECT slug, schema_revision FROM public.tenant")) == {
        t.slug: REVISION for t in small_fleet.tenants
    }


def test_worker_processes_migrate_the_others_when_one_tenant_fails(small_fleet, monkeypatch):
    monkeypatch.setattr(fleet, "_IN_PROCESS_MAX", 0)  # as for a fleet too large to migrate here
    _one, two, _three = small_fleet.tenants
    small_fleet.add_revision()
    small_fleet.sql(f'ALTER TABLE "{two.schema_name}".item ADD COLUMN priority int')  # the migration fails

    report, seen = _migrate(small_fleet, jobs=2)

    assert _children_seen(seen) - {0}  # worker processes were running while the results came in
    assert [r.slug for r in report.failed] == ["paths-two"]
    assert "DuplicateColumn" in (report.failed[0].error or "")
    assert report.failed[0].to_revision == small_fleet.old_head
    migrated = {r.slug: r.to_revision for r in report.migrated}
    assert migrated == {"paths-one": REVISION, "paths-three": REVISION}
    rows = small_fleet.sql("SELECT slug, schema_revision, migration_error FROM public.tenant")
    recorded = {slug: (revision, error is not None) for slug, revision, error in rows}
    assert recorded == {
        "paths-one": (REVISION, False),
        "paths-two": (small_fleet.old_head, True),
        "paths-three": (REVISION, False),
    }
    # The failed tenant's transaction rolled back whole: its version and indexes are as before.
    assert small_fleet.sql(f'SELECT version_num FROM "{two.schema_name}".alembic_version') == [
        (small_fleet.old_head,)
    ]
    indexes = small_fleet.sql(f"SELECT indexname FROM pg_indexes WHERE schemaname = '{two.schema_name}'")
    assert ("ix_item_priority",) not in indexes
    assert len(small_fleet.backends()) == 2  # the two tenants that migrated


def test_the_connection_is_replaced_after_its_share_of_tenants(small_fleet, monkeypatch):
    monkeypatch.setattr(fleet, "_RECYCLE_AFTER", 1)  # a new backend for every transaction
    monkeypatch.setattr(fleet, "_TXN_TENANTS", 1)  # of one tenant
    small_fleet.add_revision()
    report, _ = _migrate(small_fleet, jobs=1)
    assert (len(report.migrated), report.failed) == (3, [])
    backends = small_fleet.backends()
    assert len(backends) == len(set(backends)) == 3


def test_recycle_if_due_keeps_the_connection_until_its_share_is_served(settings):
    engine = create_engine(settings.sync_database_url, pool_size=1, max_overflow=0)

    def backend() -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())

    try:
        first = backend()
        assert fleet._recycle_if_due(engine, fleet._RECYCLE_AFTER - 1) == fleet._RECYCLE_AFTER - 1
        assert backend() == first
        assert fleet._recycle_if_due(engine, fleet._RECYCLE_AFTER) == 0
        assert backend() != first
    finally:
        engine.dispose()


def test_a_failing_tenant_in_a_transaction_of_several_leaves_the_others_migrated(small_fleet):
    one, two, three = small_fleet.tenants
    small_fleet.add_revision()
    small_fleet.sql(f'ALTER TABLE "{two.schema_name}".item ADD COLUMN priority int')  # the migration fails

    report, seen = _migrate(small_fleet, jobs=4)  # in this process: the three in one transaction

    assert _children_seen(seen) == {0}
    assert [(r.slug, r.to_revision) for r in report.failed] == [("paths-two", small_fleet.old_head)]
    assert "DuplicateColumn" in (report.failed[0].error or "")
    assert sorted(r.slug for r in report.migrated) == ["paths-one", "paths-three"]
    assert len(set(small_fleet.backends())) == 1  # one transaction on one connection
    for tenant, version in ((one, REVISION), (two, small_fleet.old_head), (three, REVISION)):
        assert small_fleet.sql(f'SELECT version_num FROM "{tenant.schema_name}".alembic_version') == [
            (version,)
        ]
    [(error,)] = small_fleet.sql("SELECT migration_error FROM public.tenant WHERE slug = 'paths-two'")
    assert "priority" in error


FAILS_AT_COMMIT = '''"""a row that breaks a deferred foreign key: the commit fails"""

import sqlalchemy as sa
from alembic import op

from platform_core.kernel.db.binding import qualify

revision = "{revision}"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """A table whose foreign key is checked at commit, and a row it refuses."""
    op.create_table(
        "probe",
        sa.Column("item_id", sa.Uuid(), sa.ForeignKey("item.id", deferrable=True, initially="DEFERRED")),
    )
    bind = op.get_bind()
    bind.execute(sa.text(f"INSERT INTO {{qualify(bind, 'probe')}} VALUES (gen_random_uuid())"))


def downgrade() -> None:
    """Drop it."""
    op.drop_table("probe")
'''


def test_a_failed_commit_reports_every_tenant_of_the_transaction(small_fleet):
    versions = Path(small_fleet.settings.migrations_dir) / "tenant" / "versions"
    source = FAILS_AT_COMMIT.format(revision=REVISION, down=small_fleet.old_head)
    (versions / f"2099_01_01_{REVISION}_probe.py").write_text(source)
    script_directory.cache_clear()

    report, _ = _migrate(small_fleet, jobs=4)  # the three in one transaction, whose commit fails

    assert report.migrated == []
    assert {(r.slug, r.from_revision, r.to_revision) for r in report.failed} == {
        (t.slug, small_fleet.old_head, small_fleet.old_head) for t in small_fleet.tenants
    }
    assert all("ForeignKeyViolation" in (r.error or "") for r in report.failed)
    for tenant in small_fleet.tenants:
        assert small_fleet.sql(f'SELECT version_num FROM "{tenant.schema_name}".alembic_version') == [
            (small_fleet.old_head,)
        ]
    rows = small_fleet.sql("SELECT schema_revision, migration_error IS NOT NULL FROM public.tenant")
    assert set(rows) == {(small_fleet.old_head, True)}
