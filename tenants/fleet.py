"""Fleet migrations: `public` first, then every tenant schema, in parallel, resumable, with a report."""

from __future__ import annotations

import importlib
import multiprocessing
import re
import statistics
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.environment import EnvironmentContext
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import BLANK_SCHEMA, Connection, Engine, MetaData, create_engine, pool

from platform_core.kernel.db.alembic_config import alembic_config, head_revision, script_directory
from platform_core.kernel.db.base import models_registry, tenant_metadata, utcnow
from platform_core.kernel.db.binding import bind_migration
from platform_core.kernel.settings import Settings
from tenants import pool as schema_pool
from tenants import repository as tenant_repository
from tenants.exceptions import TenantNotFound

FLEET_LOCK_KEY = 0x5EED_F1EE  # pg advisory lock: one fleet migration at a time
_SCHEMA = re.compile(r"^t_[0-9a-f]{32}$")
_CHUNK = 500
_RECORD_EVERY_S = 0.5  # the coordinator commits recorded results at most this often
_TASK_SIZE = 16  # tenants per task sent to a worker
_TXN_TENANTS = 8  # tenants per transaction (each in a savepoint): one commit for the lot
_RECYCLE_AFTER = 250  # tenants a worker migrates on one connection before it opens a new one
_IN_PROCESS_MAX = 100  # this many tenants behind or fewer: migrated in this process, no worker processes


class FleetLocked(RuntimeError):
    """Another fleet migration holds the lock."""


@dataclass(frozen=True)
class TenantRef:
    """A tenant whose schema the fleet runner migrates (`pooled`: a schema of the warm pool, whose id
    a tenant takes when it claims it)."""

    id: uuid.UUID
    slug: str
    schema: str
    pooled: bool = False


@dataclass(frozen=True)
class TenantResult:
    """The outcome of migrating one tenant schema."""

    tenant_id: uuid.UUID
    slug: str
    from_revision: str | None
    to_revision: str | None
    duration_ms: float
    error: str | None = None


@dataclass
class FleetReport:
    """What a fleet migration did."""

    head: str
    total: int
    skipped: int
    results: list[TenantResult] = field(default_factory=list)
    public_upgraded: bool = False
    elapsed_s: float = 0.0
    pool_migrated: int = 0  # warm-pool schemas brought to head
    pool_dropped: int = 0  # warm-pool schemas whose migration failed, dropped (top-up builds others)

    @property
    def failed(self) -> list[TenantResult]:
        """Tenants whose migration failed."""
        return [r for r in self.results if r.error]

    @property
    def migrated(self) -> list[TenantResult]:
        """Tenants migrated successfully in this run."""
        return [r for r in self.results if not r.error]

    def percentile_ms(self, q: float) -> float | None:
        """Per-tenant duration percentile (0 < q < 1) over migrated tenants."""
        durations = sorted(r.duration_ms for r in self.migrated)
        if not durations:
            return None
        if len(durations) == 1:
            return durations[0]
        return statistics.quantiles(durations, n=100, method="inclusive")[round(q * 100) - 1]


def check_schema_name(schema: str) -> str:
    """Refuse anything but a derived tenant schema name (it is interpolated into SQL)."""
    if not _SCHEMA.match(schema):
        raise ValueError(f"not a tenant schema name: {schema!r}")
    return schema


@lru_cache(maxsize=1)
def _unqualified(table: Any, to_schema: Any, constraint: Any, referred_schema: Any) -> Any:
    return BLANK_SCHEMA


@lru_cache(maxsize=1)
def unqualified_tenant_metadata() -> MetaData:
    """The tenant tables without a schema, as migrations name them (the binding supplies the schema);
    built once per process (copying every table took ~100 ms, which each tenant's migration paid)."""
    models = tenant_metadata()
    metadata = MetaData(naming_convention=models.naming_convention)
    for table in models.sorted_tables:
        # Foreign keys between tenant tables lose the placeholder schema too.
        # schema=None takes the target metadata's schema (none); the stubs list only str and RETAIN_SCHEMA.
        table.to_metadata(metadata, schema=None, referred_schema_fn=_unqualified)  # type: ignore[arg-type]
    return metadata


def configure_tenant_context(
    context: EnvironmentContext,
    conn: Connection,
    schema: str,
    *,
    reflect: bool = False,
    on_version_apply: Callable[..., None] | None = None,
) -> None:
    """Point an Alembic environment at one tenant schema, bound for the connection's transaction
    (`reflect`: for autogenerate, which compares the schema with the models; `on_version_apply`:
    called after each revision with the version table's new heads)."""
    bind_migration(conn, check_schema_name(schema), reflect=reflect)
    context.configure(
        on_version_apply=on_version_apply,
        connection=conn,
        target_metadata=unqualified_tenant_metadata(),
        version_table_schema=schema,
        include_schemas=False,
        include_object=_not_version_table,
        compare_type=True,
    )


def _not_version_table(
    obj: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    return not (type_ == "table" and name == "alembic_version")


def upgrade_public(settings: Settings) -> None:
    """Migrate the public schema to head."""
    cfg = alembic_config(settings.migrations_dir, "public", settings.sync_database_url)
    command.upgrade(cfg, "head")


def read_revisions(conn: Connection, schemas: Sequence[str]) -> dict[str, str | None]:
    """Current Alembic revision of each schema (None when it has no version table), in few queries."""
    stamped = tenant_repository.stamped_schemas(conn)
    revisions: dict[str, str | None] = dict.fromkeys(schemas)
    present = [check_schema_name(s) for s in schemas if s in stamped]
    for start in range(0, len(present), _CHUNK):
        # Each query opens _CHUNK version tables. Read in a savepoint and roll it back, which releases
        # those locks at once: with 10,000 schemas one transaction would exhaust the lock table.
        savepoint = conn.begin_nested()
        try:
            revisions.update(tenant_repository.schema_versions(conn, present[start : start + _CHUNK]))
        finally:
            savepoint.rollback()
    return revisions


def pending_tenants(engine: Engine, settings: Settings) -> tuple[str, list[TenantRef], dict[str, str | None]]:
    """The tenant head, every tenant with a schema, and each one's current revision."""
    head = head_revision(settings.migrations_dir, "tenant")
    with engine.connect() as conn:
        rows = tenant_repository.live_tenant_ids_and_slugs(conn)
        tenants = [TenantRef(id=r.id, slug=r.slug, schema=f"t_{r.id.hex}") for r in rows]
        revisions = read_revisions(conn, [t.schema for t in tenants])
    return head, tenants, revisions


# --- worker side: runs in a child process with its own engine ---------------------------------------
_worker_engine: Engine | None = None
_worker_dir: Path | None = None
_worker_served = 0  # tenants migrated on the worker's current connection


def _init_worker(url: str, migrations_dir: str, registry: str | None) -> None:
    global _worker_engine, _worker_dir
    if registry is not None:  # a spawned process starts with no models: load the parent's registry
        importlib.import_module(registry)
    # One connection kept for the worker's whole share of tenants: a new backend per tenant would pay
    # the connection set-up and a cold catalog cache (large with thousands of schemas) every time.
    _worker_engine = create_engine(url, pool_size=1, max_overflow=0)
    _worker_dir = Path(migrations_dir)


def migrate_tenant(
    engine: Engine, migrations_dir: Path, tenant: TenantRef, *, target: str = "heads"
) -> TenantResult:
    """Upgrade one tenant schema to `target` (head) in one transaction; errors are returned, not raised."""
    return migrate_tenants(engine, migrations_dir, [tenant], target=target)[0]


def migrate_tenants(
    engine: Engine, migrations_dir: Path, tenants: Sequence[TenantRef], *, target: str = "heads"
) -> list[TenantResult]:
    """Upgrade tenant schemas to `target` in one transaction, each in a savepoint of its own: a tenant
    that fails is rolled back alone and reported, the others commit together (one commit, one WAL
    flush, for the lot). Errors are returned, not raised; if the commit itself fails, every tenant of
    the lot is reported failed at its previous revision. One tenant: no savepoint."""
    script = script_directory(migrations_dir, "tenant")
    cfg = alembic_config(migrations_dir, "tenant")
    results: list[TenantResult] = []
    befores: dict[uuid.UUID, str | None] = {}
    batched = len(tenants) > 1
    start = time.perf_counter()
    try:
        with engine.connect() as conn, conn.begin():
            for tenant in tenants:
                start = time.perf_counter()
                savepoint = conn.begin_nested() if batched else None
                try:
                    result = _upgrade_tenant(conn, script, cfg, tenant, target, befores, start)
                except Exception as exc:
                    if savepoint is None:
                        raise
                    savepoint.rollback()
                    results.append(_failed(tenant, befores.get(tenant.id), start, exc))
                    continue
                if savepoint is not None:
                    savepoint.commit()
                results.append(result)
    except Exception as exc:  # the lone tenant failed, or the lot's commit (or its connection) did
        done = {r.tenant_id: r for r in results}
        return [
            done[t.id]
            if t.id in done and done[t.id].error
            else _failed(t, befores.get(t.id), start, exc, done.get(t.id))
            for t in tenants
        ]
    return results


def _upgrade_tenant(
    conn: Connection,
    script: ScriptDirectory,
    cfg: Config,
    tenant: TenantRef,
    target: str,
    befores: dict[uuid.UUID, str | None],
    start: float,
) -> TenantResult:
    """Upgrade one tenant schema on `conn`, in its transaction (`befores` gets its revision once read)."""
    schema = check_schema_name(tenant.schema)
    stamped = tenant_repository.lock_schema_migration(conn, schema)
    if tenant.pooled and not schema_pool.lock_unclaimed(conn, tenant.id):
        # Claimed meanwhile: it is a tenant now, migrated as one (its row says which revision).
        return TenantResult(tenant.id, tenant.slug, None, None, 0.0)
    before = befores[tenant.id] = tenant_repository.read_version(conn, schema) if stamped else None
    after = before

    def upgrade(rev: Any, context: Any) -> Any:
        return script._upgrade_revs(target, rev)

    def applied(*, heads: set[str], **_: Any) -> None:
        nonlocal after
        after = min(heads, default=None)  # one head: the tenant history has a single one

    with EnvironmentContext(cfg, script, fn=upgrade, destination_rev=target) as env:
        configure_tenant_context(env, conn, schema, on_version_apply=applied)
        _known_version_table(env.get_context(), conn, stamped, before)
        env.run_migrations()
    if tenant.pooled:
        schema_pool.record_revision(conn, tenant.id, after)
    return TenantResult(tenant.id, tenant.slug, before, after, (time.perf_counter() - start) * 1000)


def _failed(
    tenant: TenantRef, before: str | None, start: float, exc: Exception, done: TenantResult | None = None
) -> TenantResult:
    """A tenant's failed migration: at its previous revision, with the error's first line."""
    message = f"{type(exc).__name__}: {exc}".splitlines()[0][:2000]
    duration = done.duration_ms if done else (time.perf_counter() - start) * 1000
    return TenantResult(tenant.id, tenant.slug, before, before, duration, message)


def _known_version_table(
    context: MigrationContext, conn: Connection, stamped: bool, version: str | None
) -> None:
    """Tell Alembic what the tenant's lock statement already found, instead of letting it ask again.

    Alembic asks whether the version table exists with the dialect's has_table, a join of pg_class and
    pg_namespace that can take a plan scanning every tenant's version table (120 ms per call at 10,000
    tenants with stale catalog statistics), then reads the version: two more round trips per tenant for
    what `lock_schema_migration` and `read_version` read under the tenant's lock. A schema without the
    table (a new one) gets it created without a further has_table check.
    """
    exists = stamped

    def has_version_table() -> bool:
        return exists

    def current_heads() -> tuple[str, ...]:
        return (version,) if version else ()

    def ensure_version_table(purge: bool = False) -> None:
        nonlocal exists
        if not exists:
            context._version.create(conn, checkfirst=False)
            exists = True
        if purge:
            conn.execute(context._version.delete())

    context._has_version_table = has_version_table  # type: ignore[method-assign]
    context.get_current_heads = current_heads  # type: ignore[method-assign]
    context._ensure_version_table = ensure_version_table  # type: ignore[method-assign]


def _recycle_if_due(engine: Engine, served: int) -> int:
    """Close the engine's connection after `_RECYCLE_AFTER` tenants (the next one opens a new backend);
    return the count of tenants served on the connection now in use.

    A backend keeps the catalog entries (relcache, catcache) of every schema it touched and never evicts
    them: a fresh backend every few hundred tenants bounds its memory and the cost of the full cache
    flush that a backend falling behind on the other workers' DDL invalidations pays; a new connection
    costs a few milliseconds.
    """
    if served < _RECYCLE_AFTER:
        return served
    engine.dispose()
    return 0


def _migrate_in_worker(tenants: list[TenantRef]) -> list[TenantResult]:
    global _worker_served
    assert _worker_engine is not None
    assert _worker_dir is not None
    results = []
    for start in range(0, len(tenants), _TXN_TENANTS):
        lot = tenants[start : start + _TXN_TENANTS]
        _worker_served = _recycle_if_due(_worker_engine, _worker_served) + len(lot)
        results += migrate_tenants(_worker_engine, _worker_dir, lot)
    return results


def _migrate_here(settings: Settings, todo: list[TenantRef]) -> Iterable[TenantResult]:
    """Migrate `todo` in this process on one connection (no worker processes to start)."""
    engine = create_engine(settings.sync_database_url, pool_size=1, max_overflow=0)
    served = 0
    try:
        for start in range(0, len(todo), _TXN_TENANTS):
            lot = todo[start : start + _TXN_TENANTS]
            served = _recycle_if_due(engine, served) + len(lot)
            yield from migrate_tenants(engine, Path(settings.migrations_dir), lot)
    finally:
        engine.dispose()


# --- coordinator --------------------------------------------------------------------------------------
def _record(conn: Connection, result: TenantResult) -> None:
    tenant_repository.record_migration(
        conn,
        tenant_id=result.tenant_id,
        revision=result.to_revision,
        duration_ms=result.duration_ms,
        error=result.error,
        at=utcnow(),
    )


def upgrade_fleet(
    settings: Settings,
    *,
    jobs: int = 4,
    include_public: bool = True,
    only: Iterable[str] | None = None,
    on_start: Callable[[int], None] | None = None,
    on_result: Callable[[TenantResult], None] | None = None,
) -> FleetReport:
    """Migrate public, then every tenant not at head with `jobs` processes; continue past failures."""
    started = time.perf_counter()
    script_directory.cache_clear()  # read the revision files as they are now
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    try:
        with engine.connect() as lock_conn:
            got = tenant_repository.try_fleet_lock(lock_conn, FLEET_LOCK_KEY)
            lock_conn.commit()
            if not got:
                raise FleetLocked("another `db upgrade` is running; try again when it finishes")
            try:
                if include_public:
                    upgrade_public(settings)
                head, tenants, revisions = pending_tenants(engine, settings)
                if only is not None:
                    wanted = set(only)
                    unknown = sorted(wanted - {t.slug for t in tenants})
                    if unknown:  # an unknown slug is an error, not "0 tenants migrated"
                        raise TenantNotFound(f"No tenant with slug {', '.join(map(repr, unknown))}.")
                    tenants = [t for t in tenants if t.slug in wanted]
                todo = [t for t in tenants if revisions.get(t.schema) != head]
                report = FleetReport(head=head, total=len(tenants), skipped=len(tenants) - len(todo))
                report.public_upgraded = include_public
                if on_start:
                    on_start(len(todo))
                with engine.begin() as conn:
                    _sync_recorded_heads(conn, [t for t in tenants if revisions.get(t.schema) == head], head)
                with engine.connect() as recorder:  # one connection records every result
                    last_commit = time.monotonic()
                    for result in _run(settings, todo, jobs):
                        _record(recorder, result)
                        report.results.append(result)
                        if on_result:
                            on_result(result)
                        # A commit per result cost the coordinator a WAL flush per tenant; a crash loses
                        # at most a second of records, and the rerun finds those tenants at head anyway.
                        if time.monotonic() - last_commit >= _RECORD_EVERY_S:
                            recorder.commit()
                            last_commit = time.monotonic()
                    recorder.commit()
                if only is None:
                    report.pool_migrated, report.pool_dropped = _migrate_pool(engine, settings, head, jobs)
            finally:
                tenant_repository.release_fleet_lock(lock_conn, FLEET_LOCK_KEY)
                lock_conn.commit()
    finally:
        engine.dispose()
    report.elapsed_s = time.perf_counter() - started
    return report


def _migrate_pool(engine: Engine, settings: Settings, head: str, jobs: int) -> tuple[int, int]:
    """Migrate the warm pool's schemas behind `head` as tenant schemas are (under the row lock that a
    claim takes); drop those that fail (they hold no data). Returns (migrated, dropped)."""
    with engine.connect() as conn:
        ids = schema_pool.behind_head(conn, head)
    todo = [TenantRef(i, "(pool)", f"t_{i.hex}", pooled=True) for i in ids]
    migrated = dropped = 0
    for result in _run(settings, todo, jobs):
        if result.error is None:
            migrated += result.to_revision is not None
            continue
        with engine.begin() as conn:
            dropped += schema_pool.drop_unclaimed(conn, result.tenant_id)
    return migrated, dropped


def _sync_recorded_heads(conn: Connection, at_head: list[TenantRef], head: str) -> None:
    """Record head on tenants found at head whose registry row says otherwise (e.g. after a crash)."""
    ids = [t.id for t in at_head]
    for start in range(0, len(ids), _CHUNK):
        tenant_repository.record_at_head(conn, tenant_ids=ids[start : start + _CHUNK], head=head)


def _run(settings: Settings, todo: list[TenantRef], jobs: int) -> Iterable[TenantResult]:
    if not todo:
        return
    if jobs <= 1 or len(todo) <= _IN_PROCESS_MAX:
        # Starting a worker process (spawn, imports, models) takes 1-2 s; this many tenants take less
        # in this process, one after another.
        yield from _migrate_here(settings, todo)
        return
    workers = max(1, min(jobs, len(todo)))
    context = multiprocessing.get_context("spawn")  # the parent may run threads (progress bars)
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=context,
        initializer=_init_worker,
        initargs=(settings.sync_database_url, str(settings.migrations_dir), models_registry()),
    ) as executor:
        # A few tenants per task: one round trip to the worker process per task, not per tenant;
        # small enough that the workers finish together.
        size = max(1, min(_TASK_SIZE, len(todo) // (workers * 8)))
        futures = [
            executor.submit(_migrate_in_worker, todo[start : start + size])
            for start in range(0, len(todo), size)
        ]
        for future in as_completed(futures):
            yield from future.result()


def tenants_not_at_head(settings: Settings) -> tuple[str, list[tuple[TenantRef, str | None, str | None]]]:
    """Tenants whose schema is not at head, with their revision and last recorded error."""
    script_directory.cache_clear()
    engine = create_engine(settings.sync_database_url, poolclass=pool.NullPool)
    try:
        head, tenants, revisions = pending_tenants(engine, settings)
        with engine.connect() as conn:
            errors = tenant_repository.migration_errors(conn)
    finally:
        engine.dispose()
    behind = [
        (t, revisions.get(t.schema), errors.get(t.id)) for t in tenants if revisions.get(t.schema) != head
    ]
    return head, behind


@dataclass(frozen=True)
class BehindHead:
    """A tenant whose schema is not at the tenant head: its revision and its last recorded error."""

    tenant_id: uuid.UUID
    slug: str
    status: str
    revision: str | None
    error: str | None
    migrated_at: datetime | None


def behind_head(conn: Connection, settings: Settings) -> tuple[str, int, list[BehindHead]]:
    """The tenant head, how many tenants have a schema, and those not at head (by slug), read on the
    caller's connection (`tenants_not_at_head` opens its own)."""
    head = head_revision(settings.migrations_dir, "tenant")
    rows = tenant_repository.live_tenants_by_slug(conn)
    revisions = read_revisions(conn, [f"t_{r.id.hex}" for r in rows])
    behind = [
        BehindHead(r.id, r.slug, r.status, revisions.get(f"t_{r.id.hex}"), r.migration_error, r.migrated_at)
        for r in rows
        if revisions.get(f"t_{r.id.hex}") != head
    ]
    return head, len(rows), behind
