"""Tenant provisioning: cold (rendered DDL, one round trip) and from the warm pool, at 10 and 10,000 tenants.

Each round provisions one tenant by each method, in rotating order, as `platformctl tenants create`
does (registry row, schema, built-in roles, stamp, NOTIFY, one transaction, committed):

- warm: `create_tenant` claims a schema of the warm pool (one pooled schema is built, untimed, just
  before), so the signup only inserts the row (the pooled schema holds the built-in roles already);
- signup: the same with an owner, as a signup makes one (the password hashed before the transaction,
  as the API does; untimed): the claim also inserts the owner's account;
- cold: `create_tenant` with the pool empty: the schema from the tenant DDL rendered once per process,
  sent in one round trip;
- previous: the implementation this replaced, kept here as the baseline: `metadata.create_all` (one
  round trip per table and index, compiled each time), then the Alembic stamp.

Every measured tenant is removed again (untimed), so the tenant count stays where the phase put it:
first 10 tenants, then 10,000 (created in parallel on several connections; the time is reported).
Before each phase is measured, the system catalogs are vacuumed and analyzed (untimed, the time
reported): creating thousands of schemas in minutes grows pg_attribute, pg_depend and pg_class by
gigabytes, and autovacuum's pass over them would otherwise land inside the measured rounds; a fleet
that grew to 10,000 tenants over weeks has had those passes long before. The rounds then run on fresh
connections: a backend that created 2,500 schemas itself holds cache entries for all their relations
(over a gigabyte), which no API process's connection does.

    python -m bench.provisioning [--rounds 40] [--existing 10000] [--bulk-jobs 4]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from alembic.runtime.migration import MigrationContext
from sqlalchemy import delete, insert, text
from sqlalchemy.schema import CreateSchema

from bench._common import (
    Goal,
    Report,
    Timer,
    bench_database,
    bench_settings,
    command_line,
    log,
    percentile,
    services,
    vacuum_catalogs,
)
from platform_core.access.models import Role
from platform_core.access.permissions import builtin_role_rows
from platform_core.app.models import TenantBase
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.binding import bind_connection, in_schema
from platform_core.kernel.db.engines import Database
from platform_core.kernel.security.passwords import hash_password
from platform_core.kernel.settings import Settings
from platform_core.members import owner as owners
from platform_core.operators import tenants as tenant_actions
from tenants import pool as schema_pool
from tenants import provisioning, repository
from tenants.fleet import upgrade_public
from tenants.models import Tenant

MODULE = "bench.provisioning"
GOAL_COLD_P50_MS = 40.0
GOAL_WARM_P50_MS = 20.0
GOAL_FLAT_RATIO = 1.5
OWNER_PASSWORD = "bench-owner-password-1"
METHODS = ("warm", "signup", "cold", "previous")
WARM = ("warm", "signup")  # the methods that claim a pooled schema


def create_tenant(db: Database, settings: Settings, *, slug: str, name: str) -> Tenant:
    """Provision one tenant as `platformctl tenants create` does: one transaction, committed."""
    with db.sync_session() as session, session.begin():
        return tenant_actions.create_tenant(session, settings=settings, slug=slug, name=name)


def create_tenant_with_owner(
    db: Database, settings: Settings, password_hash: str, *, slug: str, name: str
) -> Tenant:
    """Provision one tenant with its owner as a signup does (the password already hashed)."""
    owner = owners.OwnerAccount(email=f"owner@{slug}.example", password_hash=password_hash)
    seed = partial(owners.seed_schema, owner=owner, settings=settings)
    with db.sync_session() as session, session.begin():
        return provisioning.create_tenant(
            session, settings=settings, slug=slug, name=name, owner_email=owner.email, seed=seed
        )


def count_tables(db: Database, schema: str) -> int:
    """Tables in a schema (the tenant tables plus alembic_version)."""
    with db.sync_engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
        )


def create_tenant_previous(db: Database, settings: Settings, *, slug: str, name: str) -> Tenant:
    """The baseline: provisioning as it was before the rendered DDL (create_all, then the stamp)."""
    head = head_revision(settings.migrations_dir, "tenant")
    with db.sync_session() as session, session.begin():
        tenant = Tenant(
            id=uuid.uuid4(),
            slug=slug,
            name=name,
            status=TenantStatus.ACTIVE.value,
            schema_revision=head,
            migrated_at=utcnow(),
        )
        session.add(tenant)
        session.flush()
        conn = session.connection()
        conn.execute(CreateSchema(tenant.schema_name))
        with bind_connection(conn, tenant.schema_name):
            TenantBase.metadata.create_all(conn, checkfirst=False)
        in_schema(session, tenant.schema_name).execute(insert(Role), builtin_role_rows())  # as it seeded them
        context = MigrationContext.configure(conn, opts={"version_table_schema": tenant.schema_name})
        context.stamp(script_directory(settings.migrations_dir, "tenant"), "heads")
        repository.notify_changed(session, tenant.id)
        return tenant


def remove_tenant(db: Database, tenant: Tenant) -> None:
    """Drop a measured tenant again (untimed), so the tenant count stays where the phase put it."""
    with db.sync_session() as session, session.begin():
        session.execute(delete(Tenant).where(Tenant.id == tenant.id))
        repository.drop_schema(session, schema=tenant.schema_name)


def fill_pool(db: Database, settings: Settings, count: int) -> None:
    """Build `count` pooled schemas."""
    for _ in range(count):
        with db.sync_engine.begin() as conn:
            schema_pool.build_one(conn, settings)


def pool_size(db: Database, settings: Settings) -> int:
    """Pooled schemas at the head."""
    with db.sync_engine.connect() as conn:
        return schema_pool.status(conn, settings).ready


def bulk_create(db: Database, settings: Settings, run_id: str, start: int, stop: int, jobs: int) -> float:
    """Create tenants start..stop-1 (cold) on `jobs` connections at once; the seconds it took."""
    create = partial(create_tenant, db, settings)
    with Timer() as timer, ThreadPoolExecutor(max_workers=jobs) as executor:
        futures = [
            executor.submit(create, slug=f"t{run_id}-{n}", name=f"Tenant {n}") for n in range(start, stop)
        ]
        for n, future in enumerate(futures, 1):
            future.result()
            if n % 1000 == 0:
                log(f"  {start + n} tenants")
    return timer.elapsed


def measure(db: Database, settings: Settings, run_id: str, label: str, rounds: int) -> dict[str, list[float]]:
    """`rounds` rounds of each method, rotating the order; every measured tenant removed after."""
    timings: dict[str, list[float]] = {m: [] for m in METHODS}
    cold = partial(create_tenant, db, settings)
    runners: dict[str, Callable[..., Tenant]] = {
        "warm": cold,
        "signup": partial(create_tenant_with_owner, db, settings, hash_password(OWNER_PASSWORD)),
        "cold": cold,
        "previous": partial(create_tenant_previous, db, settings),
    }
    for n in range(rounds):
        turn = n % len(METHODS)
        for method in METHODS[turn:] + METHODS[:turn]:
            if method in WARM:
                fill_pool(db, settings, 1)
            start = time.perf_counter()
            tenant = runners[method](slug=f"m{run_id}-{label}-{method}-{n}", name="Measured")
            timings[method].append((time.perf_counter() - start) * 1000)
            remove_tenant(db, tenant)
    return timings


def _tenant_count(db: Database) -> int:
    with db.sync_session() as session:
        return int(session.scalar(text("SELECT count(*) FROM public.tenant")) or 0)


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=40, help="tenants provisioned by each method per phase")
    parser.add_argument("--existing", type=int, default=10_000, help="tenants in the second phase")
    parser.add_argument("--bulk-jobs", type=int, default=4, help="connections creating the tenants at once")
    args = parser.parse_args(list(argv))

    phases: dict[int, dict[str, list[float]]] = {}
    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "prov") as url:
        settings = bench_settings(url, redis_url)
        upgrade_public(settings)
        db = Database(settings, pool_size=max(2, args.bulk_jobs))
        try:
            run_id = uuid.uuid4().hex[:6]
            # Warm-up: imports, rendering the DDL, parsing the revision files, the first connections.
            warm = create_tenant(db, settings, slug=f"warm-{run_id}", name="warm")
            remove_tenant(db, create_tenant_previous(db, settings, slug=f"warm2-{run_id}", name="warm"))
            tables = count_tables(db, warm.schema_name)
            remove_tenant(db, warm)
            assert pool_size(db, settings) == 0
            bulk_s: dict[int, float] = {}
            settle_s: dict[int, float] = {}
            for existing in (10, args.existing):
                before = _tenant_count(db)
                log(f"creating {existing - before} tenants ({args.bulk_jobs} connections)")
                bulk_s[existing] = bulk_create(db, settings, run_id, before, existing, args.bulk_jobs)
                assert _tenant_count(db) == existing
                settle_s[existing] = vacuum_catalogs(url)
                db.sync_engine.dispose()  # measured on fresh connections, not those that made the tenants
                log(f"catalogs vacuumed in {settle_s[existing]:.0f} s")
                log(f"at {existing} tenants: {args.rounds} rounds of {', '.join(METHODS)}")
                phases[existing] = measure(db, settings, run_id, str(existing), args.rounds)
                assert _tenant_count(db) == existing
            report = _report(args, argv, phases, tables, bulk_s, settle_s)
            # Dropping a database of 10,000 schemas can take minutes on a busy server: the figures first.
            log("results, before the database is dropped:\n" + report.markdown())
        finally:
            db.sync_engine.dispose()
    report.elapsed_s = total.elapsed
    return report


def _report(
    args: argparse.Namespace,
    argv: Sequence[str],
    phases: dict[int, dict[str, list[float]]],
    tables: int,
    bulk_s: dict[int, float],
    settle_s: dict[int, float],
) -> Report:
    """The report of both phases."""
    small, large = phases[10], phases[args.existing]
    p50 = {(n, m): percentile(phases[n][m], 0.5) for n in phases for m in METHODS}
    p99 = {(n, m): percentile(phases[n][m], 0.99) for n in phases for m in METHODS}
    names = {
        "warm": "warm: claim a pooled schema",
        "signup": "signup: claim a pooled schema, insert its owner",
        "cold": "cold: rendered DDL, one round trip",
        "previous": "previous: create_all + Alembic stamp",
    }
    rows = []
    for method in METHODS:
        for n in phases:
            rows.append(
                [
                    names[method],
                    f"{n:,}",
                    f"{p50[n, method]:.1f}",
                    f"{p99[n, method]:.1f}",
                    f"{p50[n, method] / p50[n, 'previous']:.2f}",
                ]
            )
    rate = (args.existing - 10) / bulk_s[args.existing]
    report = Report(
        title="Provisioning: warm pool, cold (rendered DDL) and the previous create_all, at 10 and "
        f"{args.existing:,} tenants",
        command=command_line(MODULE, argv),
        summary=(
            f"{args.rounds} tenants by each method at each tenant count, rotating the order each round, "
            f"each measured tenant removed again (untimed). {tables} tables per tenant schema "
            f"({len(TenantBase.metadata.tables)} tenant tables and alembic_version). The "
            f"{args.existing - 10:,} tenants of the second phase were created cold on "
            f"{args.bulk_jobs} connections in {bulk_s[args.existing]:.0f} s ({rate:.0f} tenants/s); the "
            f"system catalogs were then vacuumed and analyzed (untimed) in {settle_s[args.existing]:.0f} s "
            f"({settle_s[10]:.1f} s at 10 tenants)."
        ),
    )
    report.tables.append((["method", "tenants", "p50 ms", "p99 ms", "p50 / previous"], rows))
    ratios = [
        [names[m], f"{p50[args.existing, m] / p50[10, m]:.2f}", f"{p99[args.existing, m] / p99[10, m]:.2f}"]
        for m in METHODS
    ]
    report.tables.append(([f"method, {args.existing:,} vs 10 tenants", "p50 ratio", "p99 ratio"], ratios))
    report.goals += [
        Goal(
            "cold p50 at 10",
            f"<= {GOAL_COLD_P50_MS:.0f} ms",
            f"{p50[10, 'cold']:.1f} ms",
            p50[10, "cold"] <= GOAL_COLD_P50_MS,
        ),
        *[
            Goal(
                f"{m} p50 at {n:,}",
                f"<= {GOAL_WARM_P50_MS:.0f} ms",
                f"{p50[n, m]:.1f} ms",
                p50[n, m] <= GOAL_WARM_P50_MS,
            )
            for m in WARM
            for n in phases
        ],
        *[
            Goal(
                f"{m} p50, {args.existing:,} vs 10 tenants",
                f"<= {GOAL_FLAT_RATIO}x",
                f"{percentile(large[m], 0.5) / percentile(small[m], 0.5):.2f}x",
                percentile(large[m], 0.5) / percentile(small[m], 0.5) <= GOAL_FLAT_RATIO,
            )
            for m in (*WARM, "cold")
        ],
    ]

    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
