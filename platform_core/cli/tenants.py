"""`platformctl tenants ...`: provisioning and lifecycle. Each command is one unit of work: it opens a
session, calls the tenants (or operators) functions, and commits once at the end."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy.orm import Session

import platform_core.app.models  # noqa: F401 - the model registry: provisioning and export need every table
from platform_core.cli import db as db_commands
from platform_core.cli.common import console, database, fmt, settings
from platform_core.members.owner import prepare_owner
from platform_core.operators import tenants as tenant_actions
from platform_core.uploads.storage import configured_store
from tenants import domains as tenant_domains
from tenants import lifecycle
from tenants import pool as schema_pool
from tenants.export import exportable_tenant, write_export
from tenants.models import Tenant

app = typer.Typer(help="Create and manage tenants.", no_args_is_help=True)


def _describe(tenant: Tenant) -> dict[str, str]:
    return {
        "id": str(tenant.id),
        "slug": tenant.slug,
        "name": tenant.name,
        "status": tenant.status,
        "schema": tenant.schema_name,
        "url": settings().tenant_url(tenant.slug),
        "owner_email": fmt(tenant.owner_email),
        "suspended_reason": fmt(tenant.suspended_reason),
        "schema_revision": fmt(tenant.schema_revision),
        "migration_error": fmt(tenant.migration_error),
        "created_at": fmt(tenant.created_at),
        "deleted_at": fmt(tenant.deleted_at),
        "purge_after": fmt(tenant.purge_after),
    }


def _print(tenant: Tenant, as_json: bool) -> None:
    data = _describe(tenant)
    if as_json:
        console.print_json(json.dumps(data))
        return
    for key, value in data.items():
        console.print(f"[bold]{key:>17}[/bold]  {value}")


@contextmanager
def unit_of_work() -> Iterator[Session]:
    """A session on `public` for one command, committed if the block ends without an error."""
    with database() as db, db.sync_session() as session, session.begin():
        yield session


JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("create")
def create(
    slug: str,
    name: Annotated[str, typer.Option(help="Display name.")] = "",
    owner_email: Annotated[
        str | None, typer.Option(help="The owner's email: the account is created with the tenant.")
    ] = None,
    owner_password: Annotated[
        str | None,
        typer.Option(
            envvar="OWNER_PASSWORD",
            help="The owner's password, for scripts (prefer the OWNER_PASSWORD variable to the flag); "
            "without it the owner is emailed a set-password link.",
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a tenant, its schema and its owner account (atomically)."""
    if owner_password and not owner_email:
        raise typer.BadParameter("--owner-password needs --owner-email")
    with unit_of_work() as session:
        tenant = tenant_actions.create_tenant(
            session,
            settings=settings(),
            slug=slug,
            name=name or slug,
            owner_email=owner_email,
            owner_password=owner_password,
        )
    _print(tenant, as_json)
    if owner_email and not as_json:
        how = "can sign in now" if owner_password else "was emailed a link to choose a password"
        console.print(f"owner {tenant.owner_email} {how}")


@app.command("add-owner")
def add_owner(
    slug: str,
    email: Annotated[str, typer.Option(help="The owner's email: an existing user is promoted.")],
    password: Annotated[
        str | None,
        typer.Option(
            envvar="OWNER_PASSWORD",
            help="A new account's password (prefer the OWNER_PASSWORD variable); without it the owner "
            "is emailed a set-password link.",
        ),
    ] = None,
) -> None:
    """Make someone an owner of a tenant (one left without an owner, say); recorded in its audit log."""
    owner = prepare_owner(email, password)  # hashed before the transaction starts
    with unit_of_work() as session:
        added = tenant_actions.add_owner(session, settings=settings(), slug=slug, owner=owner)
    if not added.created:
        console.print(f"{added.email} is now an owner of {slug}")
    else:
        how = "was emailed a link to choose a password" if added.link_sent else "can sign in now"
        console.print(f"owner {added.email} added to {slug}: {how}")


@app.command("export")
def export(
    slug: str,
    output: Annotated[Path, typer.Option("--output", "-o", help="The archive to write (.tar.gz).")],
    with_files: Annotated[
        bool, typer.Option(help="Include the files themselves, not only their index.")
    ] = False,
) -> None:
    """Export a tenant's data (JSON Lines per table), the index of its files, optionally the files."""
    _export_to(slug, output, with_files=with_files)


def _export_to(slug: str, output: Path, *, with_files: bool) -> None:
    partial = output.with_name(output.name + ".partial")
    try:
        with database() as db, partial.open("wb") as out:
            with db.sync_session() as session:
                tenant = exportable_tenant(session, slug=slug)
            with db.sync_session(tenant.schema_name) as session:
                summary = write_export(
                    session, tenant=tenant, out=out, files=configured_store(), with_files=with_files
                )
        partial.replace(output)  # a complete archive or none
    finally:
        partial.unlink(missing_ok=True)
    included = f", {summary.file_bytes} bytes included" if with_files else " indexed"
    files = f"{summary.files} file(s){included}"
    console.print(f"exported {slug} to {output}: {sum(summary.rows.values())} rows, {files}")


@app.command("migrate")
def migrate(
    slugs: Annotated[list[str], typer.Argument(help="The tenants to bring to the tenant head.")],
    as_json: JsonOpt = False,
) -> None:
    """Migrate these tenants' schemas to head (`db upgrade --skip-public --tenant ...`)."""
    db_commands.upgrade(jobs=None, tenant=slugs, skip_public=True, as_json=as_json)


@app.command("pool")
def pool(
    fill: Annotated[
        bool, typer.Option("--fill", help="Build schemas now until TENANT_SCHEMA_POOL_SIZE are ready.")
    ] = False,
    drain: Annotated[
        bool, typer.Option("--drain", help="Drop every pooled schema (none is in use).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show the warm pool: empty tenant schemas waiting for signups (beat keeps it topped up)."""
    if fill and drain:
        raise typer.BadParameter("--fill and --drain exclude each other")
    config = settings()
    built = dropped = 0
    with database() as db:
        if drain:
            with db.sync_engine.begin() as conn:
                dropped = schema_pool.drain(conn)
        if fill:
            built = schema_pool.top_up(db.sync_engine, config, size=config.tenant_schema_pool_size)
        with db.sync_engine.connect() as conn:
            now = schema_pool.status(conn, config)
    data = {
        "head": now.head,
        "ready": now.ready,
        "behind": now.behind,
        "target": config.tenant_schema_pool_size,
        "built": built,
        "dropped": dropped,
    }
    if as_json:
        console.print_json(json.dumps(data))
        return
    console.print(
        f"warm pool: {now.ready} ready at {now.head}, {now.behind} behind, "
        f"target {config.tenant_schema_pool_size} (TENANT_SCHEMA_POOL_SIZE)"
    )
    if fill or drain:
        console.print(f"built {built}, dropped {dropped}")


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help="Only tenants in this status.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List tenants."""
    with unit_of_work() as session:
        tenants = lifecycle.list_tenants(session, status=status)
    if as_json:
        console.print_json(json.dumps([_describe(t) for t in tenants]))
        return
    table = Table("slug", "name", "status", "revision", "created")
    for t in tenants:
        table.add_row(t.slug, t.name, t.status, fmt(t.schema_revision), fmt(t.created_at))
    console.print(table)


@app.command("show")
def show(slug: str, as_json: JsonOpt = False) -> None:
    """Show one tenant."""
    with unit_of_work() as session:
        tenant = lifecycle.get_tenant(session, slug=slug)
    _print(tenant, as_json)


@app.command("suspend")
def suspend(slug: str, reason: Annotated[str, typer.Option(help="Shown to the tenant's users.")]) -> None:
    """Suspend a tenant: its host answers 403 with the reason."""
    with unit_of_work() as session:
        tenant = tenant_actions.suspend_tenant(session, slug=slug, reason=reason)
    console.print(f"suspended {tenant.slug}: {tenant.suspended_reason}")


@app.command("resume")
def resume(slug: str) -> None:
    """Make a suspended tenant, or one awaiting deletion, active again."""
    with unit_of_work() as session:
        tenant = tenant_actions.resume_tenant(session, slug=slug)
    console.print(f"resumed {tenant.slug}")


@app.command("restore")
def restore(slug: str) -> None:
    """Bring back a tenant marked for deletion, until it is purged (only such a tenant)."""
    with unit_of_work() as session:
        tenant = tenant_actions.restore_tenant(session, slug=slug)
    console.print(f"restored {tenant.slug}")


@app.command("rename")
def rename(slug: str, new_slug: str) -> None:
    """Change a tenant's slug (subdomain); its data and schema stay."""
    with unit_of_work() as session:
        tenant = lifecycle.rename(session, settings=settings(), slug=slug, new_slug=new_slug)
    console.print(f"renamed {slug} -> {tenant.slug}")


@app.command("delete")
def delete(
    slug: str,
    purge: Annotated[
        bool, typer.Option(help="Drop the schema of a tenant whose grace period is over.")
    ] = False,
    force: Annotated[bool, typer.Option(help="With --purge: do not wait for the grace period.")] = False,
    export_to: Annotated[
        Path | None,
        typer.Option("--export", help="With --purge: first export the tenant, files included, here."),
    ] = None,
    grace_days: Annotated[
        int | None, typer.Option(help="Days to keep the data (default from settings).")
    ] = None,
) -> None:
    """Mark a tenant for deletion (data kept for a grace period); with --purge, drop its schema."""
    if purge:
        if export_to is not None:
            _export_to(slug, export_to, with_files=True)  # a failed export stops the purge
        with unit_of_work() as session:
            tenant = lifecycle.purge(session, slug=slug, force=force)
        console.print(f"purged {tenant.slug}: schema {tenant.schema_name} dropped")
        return
    with unit_of_work() as session:
        tenant = tenant_actions.delete_tenant(session, settings=settings(), slug=slug, grace_days=grace_days)
    console.print(f"{tenant.slug} marked for deletion; data kept until {fmt(tenant.purge_after)}")


domains = typer.Typer(help="Custom domains of a tenant.", no_args_is_help=True)
app.add_typer(domains, name="domains")


@domains.command("add")
def add_domain(slug: str, domain: str) -> None:
    """Attach a custom domain; it serves once verified."""
    with unit_of_work() as session:
        record = tenant_domains.add_domain(session, settings=settings(), slug=slug, domain=domain)
    console.print(f"added {record.domain} to {slug}; verification token: {record.verification_token}")
    console.print(f"TXT record to ask for: _platform-verify.{record.domain} = {record.verification_token}")


@domains.command("verify")
def verify_domain(domain: str) -> None:
    """Mark a custom domain verified (after checking its DNS): it starts serving the tenant."""
    with unit_of_work() as session:
        record = tenant_domains.verify_domain(session, domain=domain)
    console.print(f"verified {record.domain}")


@domains.command("remove")
def remove_domain(domain: str) -> None:
    """Detach a custom domain."""
    with unit_of_work() as session:
        tenant_domains.remove_domain(session, domain=domain)
    console.print(f"removed {domain}")


@domains.command("list")
def list_domains(slug: str) -> None:
    """List a tenant's custom domains."""
    with unit_of_work() as session:
        records = tenant_domains.list_domains(session, slug=slug)
    table = Table("domain", "verified", "token")
    for r in records:
        table.add_row(r.domain, fmt(r.verified_at), r.verification_token)
    console.print(table)
