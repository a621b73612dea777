"""`platformctl db ...`: fleet migrations."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from platform_core.cli.common import console, err_console, fmt, settings
from tenants.fleet import FleetLocked, TenantResult, tenants_not_at_head, upgrade_fleet

app = typer.Typer(help="Database migrations for public and every tenant schema.", no_args_is_help=True)


def _rounded(ms: float | None) -> float | None:
    """Milliseconds to one decimal: finer digits are noise."""
    return None if ms is None else round(ms, 1)


@app.command("upgrade")
def upgrade(
    jobs: Annotated[
        int | None, typer.Option(min=1, max=64, help="Tenant schemas migrated in parallel [MIGRATION_JOBS].")
    ] = None,
    tenant: Annotated[list[str] | None, typer.Option(help="Only these tenant slugs (repeatable).")] = None,
    skip_public: Annotated[bool, typer.Option(help="Do not migrate the public schema.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Migrate public, then every tenant schema not at head; exit 1 if any tenant failed."""
    progress = Progress(
        TextColumn("[bold]tenants"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        # A bar is for a person at a terminal; in a log (CI, a Kubernetes Job) only the report counts.
        disable=not err_console.is_terminal,
    )
    task_id = progress.add_task("migrate", total=0)

    def on_start(total: int) -> None:
        progress.update(task_id, total=total)

    def on_result(result: TenantResult) -> None:
        progress.advance(task_id)
        if result.error:
            progress.console.print(f"[red]failed[/red] {result.slug}: {result.error}")

    try:
        with progress:
            report = upgrade_fleet(
                settings(),
                jobs=jobs or settings().migration_jobs,
                include_public=not skip_public,
                only=tenant,
                on_start=on_start,
                on_result=on_result,
            )
    except FleetLocked as exc:
        err_console.print(f"[red]error[/red]: {exc}")
        raise typer.Exit(2) from exc
    summary = {
        "head": report.head,
        "tenants": report.total,
        "already_at_head": report.skipped,
        "migrated": len(report.migrated),
        "failed": [{"slug": r.slug, "revision": r.from_revision, "error": r.error} for r in report.failed],
        "p50_ms": _rounded(report.percentile_ms(0.5)),
        "p99_ms": _rounded(report.percentile_ms(0.99)),
        "elapsed_s": round(report.elapsed_s, 2),
        "pool_migrated": report.pool_migrated,
        "pool_dropped": report.pool_dropped,
    }
    if as_json:
        console.print_json(json.dumps(summary))
    else:
        console.print(
            f"head {report.head}: {report.total} tenants, {report.skipped} already at head, "
            f"{len(report.migrated)} migrated, {len(report.failed)} failed in {report.elapsed_s:.1f}s"
        )
        if report.pool_migrated or report.pool_dropped:
            console.print(
                f"warm pool: {report.pool_migrated} schemas migrated, "
                f"{report.pool_dropped} dropped after a failed migration"
            )
        if report.migrated:
            console.print(f"per tenant: p50 {fmt(summary['p50_ms'])} ms, p99 {fmt(summary['p99_ms'])} ms")
        if report.failed:
            table = Table("tenant", "revision", "error", title="Tenants not at head")
            for r in report.failed:
                table.add_row(r.slug, fmt(r.from_revision), r.error or "")
            console.print(table)
    if report.failed:
        raise typer.Exit(1)


@app.command("status")
def status(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False) -> None:
    """List tenants whose schema is not at the tenant head; exit 1 if there are any."""
    head, behind = tenants_not_at_head(settings())
    rows = [{"slug": t.slug, "revision": rev, "error": err} for t, rev, err in behind]
    if as_json:
        console.print_json(json.dumps({"head": head, "behind": rows}))
    elif not rows:
        console.print(f"every tenant is at head {head}")
    else:
        table = Table("tenant", "revision", "last error", title=f"Tenants not at head {head}")
        for row in rows:
            table.add_row(row["slug"], fmt(row["revision"]), fmt(row["error"]))
        console.print(table)
    if rows:
        raise typer.Exit(1)
