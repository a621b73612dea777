"""Tenant provisioning: create_tenant (create_all + stamp, one transaction) against Alembic from base.

A: create_tenant, as `platformctl tenants create` runs it: registry row, schema, tables from the
   current tenant metadata, built-in roles, Alembic stamp and NOTIFY, in one transaction.
B: the same tenant schema built by running the tenant Alembic history from base into a fresh, empty
   schema (CREATE SCHEMA, then tenants.fleet.migrate_tenant), the path a template-less platform takes.
Both run on the same pooled sync engine, alternating A B A B ..., after one warm-up of each.

    python -m bench.provisioning [--tenants 50]
"""

from __future__ import annotations

import argparse
import sys
import time
import uuid
from collections.abc import Sequence

from sqlalchemy import text

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
)
from platform_core.app.models import TenantBase
from platform_core.kernel.db.alembic_config import script_directory
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from platform_core.operators import tenants as tenant_actions
from tenants.fleet import TenantRef, migrate_tenant, upgrade_public
from tenants.models import Tenant

MODULE = "bench.provisioning"
GOAL_P50_MS = 250.0


def create_tenant(db: Database, settings: Settings, *, slug: str, name: str) -> Tenant:
    """Provision one tenant as `platformctl tenants create` does: one transaction, committed."""
    with db.sync_session() as session, session.begin():
        return tenant_actions.create_tenant(session, settings=settings, slug=slug, name=name)


def count_tables(db: Database, schema: str) -> int:
    """Tables in a schema (the tenant tables plus alembic_version)."""
    with db.sync_engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM pg_tables WHERE schemaname = :s"), {"s": schema}
            ).scalar_one()
        )


def provision_with_alembic(db: Database, schema: str) -> None:
    """Create an empty schema and run the tenant history from base into it; raise on failure."""
    with db.sync_engine.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    result = migrate_tenant(
        db.sync_engine, db.settings.migrations_dir, TenantRef(uuid.uuid4(), schema, schema)
    )
    if result.error:
        raise RuntimeError(f"alembic provisioning failed: {result.error}")


def run(argv: Sequence[str] = ()) -> Report:
    """Run the benchmark; return its report."""
    parser = argparse.ArgumentParser(prog=MODULE, description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=50, help="tenants provisioned by each method")
    args = parser.parse_args(list(argv))

    with Timer() as total, services() as (server_url, redis_url), bench_database(server_url, "prov") as url:
        settings = bench_settings(url, redis_url)
        upgrade_public(settings)
        db = Database(settings, pool_size=2)
        try:
            run_id = uuid.uuid4().hex[:6]
            # Warm-up: imports, parsing the revision files, the first connections.
            warm = create_tenant(db, settings, slug=f"warm-{run_id}", name="warm")
            provision_with_alembic(db, f"t_{uuid.uuid4().hex}")
            tables = count_tables(db, warm.schema_name)
            create_ms: list[float] = []
            alembic_ms: list[float] = []
            alembic_schema = ""
            log(f"provisioning: {args.tenants} tenants by each method, alternating")
            for n in range(args.tenants):
                for method in ("create", "alembic") if n % 2 == 0 else ("alembic", "create"):
                    start = time.perf_counter()
                    if method == "create":
                        create_tenant(db, settings, slug=f"bench-{run_id}-{n}", name=f"Bench {n}")
                        create_ms.append((time.perf_counter() - start) * 1000)
                    else:
                        alembic_schema = f"t_{uuid.uuid4().hex}"
                        provision_with_alembic(db, alembic_schema)
                        alembic_ms.append((time.perf_counter() - start) * 1000)
            alembic_tables = count_tables(db, alembic_schema)
            revisions = len(list(script_directory(settings.migrations_dir, "tenant").walk_revisions()))
            table_names = sorted(t.name for t in TenantBase.metadata.sorted_tables)
        finally:
            db.sync_engine.dispose()

    create_p50, create_p90 = percentile(create_ms, 0.5), percentile(create_ms, 0.9)
    alembic_p50, alembic_p90 = percentile(alembic_ms, 0.5), percentile(alembic_ms, 0.9)
    report = Report(
        title="Provisioning: create_tenant vs the tenant Alembic history from base",
        command=command_line(MODULE, argv),
        summary=(
            f"{args.tenants} tenants by each method, alternating, after one warm-up of each, on one "
            f"pooled sync engine. Tables per tenant schema: {tables} with create_tenant, "
            f"{alembic_tables} with Alembic ({', '.join(table_names)} and alembic_version). The tenant "
            f"history has {revisions} revision(s) today; the Alembic path grows with every revision, "
            "create_all does not."
        ),
        elapsed_s=total.elapsed,
    )
    report.tables.append(
        (
            ["method", "p50 ms", "p90 ms", "max ms", "tables/schema"],
            [
                [
                    "create_tenant (create_all + stamp)",
                    f"{create_p50:.1f}",
                    f"{create_p90:.1f}",
                    f"{max(create_ms):.1f}",
                    str(tables),
                ],
                [
                    "CREATE SCHEMA + migrate_tenant from base",
                    f"{alembic_p50:.1f}",
                    f"{alembic_p90:.1f}",
                    f"{max(alembic_ms):.1f}",
                    str(alembic_tables),
                ],
                [
                    "ratio create/alembic",
                    f"{create_p50 / alembic_p50:.2f}",
                    f"{create_p90 / alembic_p90:.2f}",
                    "",
                    "",
                ],
            ],
        )
    )
    report.goals.append(
        Goal(
            "create_tenant p50",
            f"<= {GOAL_P50_MS:.0f} ms",
            f"{create_p50:.1f} ms",
            create_p50 <= GOAL_P50_MS,
        )
    )
    return report


def main() -> None:
    """Run from the command line and print the markdown section."""
    print(run(sys.argv[1:]).markdown())


if __name__ == "__main__":
    main()
