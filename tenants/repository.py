"""All queries on the tenant registry, and the DDL that creates and drops tenant schemas."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import datetime

from sqlalchemy import Connection, Row, RowMapping, Select, Table, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlalchemy.schema import DropSchema

from platform_core.kernel.context import TenantStatus
from tenants.models import Tenant, TenantDomain

# What a request needs to know about its tenant (cached per process, and invalidated by NOTIFY whenever
# the tenant changes).
_LOOKUP_COLUMNS = (Tenant.id, Tenant.slug, Tenant.name, Tenant.status, Tenant.suspended_reason)
# id, slug, name, status, suspended_reason
TenantLookup = Row[uuid.UUID, str, str, str, str | None]
# slug, name, status, suspended_reason
TenantStatusRow = Row[str, str, str, str | None]


def _lookup() -> Select[uuid.UUID, str, str, str, str | None]:
    return select(*_LOOKUP_COLUMNS)


async def find_by_slug(conn: AsyncConnection, slug: str) -> TenantLookup | None:
    """The live tenant with this slug, or None."""
    stmt = _lookup().where(Tenant.slug == slug, Tenant.status != TenantStatus.DELETED.value)
    return (await conn.execute(stmt)).first()


async def find_by_verified_domain(conn: AsyncConnection, domain: str) -> TenantLookup | None:
    """The live tenant that a verified custom domain points at, or None."""
    stmt = (
        _lookup()
        .join(TenantDomain, TenantDomain.tenant_id == Tenant.id)
        .where(
            TenantDomain.domain == domain,
            TenantDomain.verified_at.is_not(None),
            Tenant.status != TenantStatus.DELETED.value,
        )
    )
    return (await conn.execute(stmt)).first()


async def live_lookups(conn: AsyncConnection, *, batch: int = 1000) -> AsyncIterator[Sequence[TenantLookup]]:
    """Every live tenant's lookup row, in batches (what the host cache preloads)."""
    stmt = _lookup().where(Tenant.status != TenantStatus.DELETED.value)
    result = await conn.stream(stmt.execution_options(yield_per=batch))
    async for rows in result.partitions(batch):
        yield rows


async def verified_domain_lookups(conn: AsyncConnection) -> Sequence[Row[str, uuid.UUID]]:
    """(domain, tenant id) of every verified custom domain of a live tenant."""
    stmt = (
        select(TenantDomain.domain, TenantDomain.tenant_id)
        .join(Tenant, TenantDomain.tenant_id == Tenant.id)
        .where(TenantDomain.verified_at.is_not(None), Tenant.status != TenantStatus.DELETED.value)
    )
    return (await conn.execute(stmt)).all()


def get_live_by_slug(session: Session, slug: str, *, for_update: bool = False) -> Tenant | None:
    """The tenant with this slug that is not purged."""
    stmt = select(Tenant).where(Tenant.slug == slug, Tenant.status != TenantStatus.DELETED.value)
    if for_update:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


def list_tenants(session: Session, *, status: str | None = None) -> Sequence[Tenant]:
    """Tenants ordered by slug, optionally of one status."""
    stmt = select(Tenant).order_by(Tenant.slug)
    if status:
        stmt = stmt.where(Tenant.status == status)
    return session.scalars(stmt).all()


def list_domains(session: Session, tenant_id: uuid.UUID) -> Sequence[TenantDomain]:
    """A tenant's custom domains."""
    stmt = select(TenantDomain).where(TenantDomain.tenant_id == tenant_id).order_by(TenantDomain.domain)
    return session.scalars(stmt).all()


def get_domain(session: Session, domain: str) -> TenantDomain | None:
    """A custom domain record."""
    return session.scalars(select(TenantDomain).where(TenantDomain.domain == domain)).first()


def notify_changed(session: Session, tenant_id: uuid.UUID) -> None:
    """Tell every API process, on commit, to drop cached host resolutions."""
    session.execute(text("SELECT pg_notify('tenant_changed', :id)"), {"id": str(tenant_id)})


def get_status(session: Session, tenant_id: uuid.UUID) -> TenantStatusRow | None:
    """The slug, name, status and suspension reason of a tenant, purged or not (for tasks)."""
    stmt = select(Tenant.slug, Tenant.name, Tenant.status, Tenant.suspended_reason).where(
        Tenant.id == tenant_id
    )
    return session.execute(stmt).first()


def active_ids(session: Session) -> Sequence[uuid.UUID]:
    """The ids of every active tenant, in a stable order."""
    stmt = select(Tenant.id).where(Tenant.status == TenantStatus.ACTIVE.value).order_by(Tenant.id)
    return session.scalars(stmt).all()


def drop_schema(session: Session, *, schema: str) -> None:
    """Drop a tenant schema and everything in it, in the session's transaction."""
    session.execute(DropSchema(schema, cascade=True, if_exists=True))


# --- fleet migrations: on connections of their own (a coordinator, one per worker process) ----------

# No join with pg_namespace: with the catalog statistics of a database that had few schemas when last
# analyzed, the planner nests a scan of every namespace inside the loop over every version table
# (178 s at 10,000 tenants); the schema of each version table is a syscache lookup instead.
_STAMPED_SCHEMAS = text(
    "SELECT s FROM (SELECT relnamespace::regnamespace::text AS s FROM pg_class "
    "WHERE relname = 'alembic_version') v WHERE s LIKE 't\\_%'"
)


def stamped_schemas(conn: Connection) -> set[str]:
    """Tenant schemas that have an Alembic version table."""
    return {row[0] for row in conn.execute(_STAMPED_SCHEMAS)}


def schema_versions(conn: Connection, schemas: Sequence[str]) -> dict[str, str]:
    """The version of each schema in `schemas` (already checked names, each with a version table)."""
    sql = " UNION ALL ".join(f"SELECT '{s}', version_num FROM \"{s}\".alembic_version" for s in schemas)
    return {schema: version for schema, version in conn.execute(text(sql))}


def schema_version(conn: Connection, schema: str) -> str | None:
    """The version of one (already checked) schema, None without a version table: a syscache lookup
    (to_regclass), not the catalog query of Alembic's has_table, which slows with the schema count."""
    if not has_version_table(conn, schema):
        return None
    version = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar()
    return None if version is None else str(version)


def has_version_table(conn: Connection, schema: str) -> bool:
    """Whether an (already checked) schema has an Alembic version table, by a syscache lookup."""
    table = f'"{schema}".alembic_version'
    return conn.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar() is not None


def live_tenant_ids_and_slugs(conn: Connection) -> Sequence[Row[uuid.UUID, str]]:
    """Every tenant with a schema (not purged), oldest first."""
    stmt = select(Tenant.id, Tenant.slug).where(Tenant.status != "deleted").order_by(Tenant.created_at)
    return conn.execute(stmt).all()


def live_tenants_by_slug(conn: Connection) -> Sequence[Row[uuid.UUID, str, str, str | None, datetime | None]]:
    """Every tenant with a schema (not purged), by slug: id, slug, status, last error, last migration."""
    stmt = (
        select(Tenant.id, Tenant.slug, Tenant.status, Tenant.migration_error, Tenant.migrated_at)
        .where(Tenant.status != "deleted")
        .order_by(Tenant.slug)
    )
    return conn.execute(stmt).all()


def migration_errors(conn: Connection) -> dict[uuid.UUID, str | None]:
    """The last recorded migration error of every tenant."""
    return {row.id: row.migration_error for row in conn.execute(select(Tenant.id, Tenant.migration_error))}


def lock_schema_migration(conn: Connection, schema: str) -> bool:
    """Take the per-tenant migration lock for the connection's transaction; return whether the (already
    checked) schema has an Alembic version table, looked up once the lock is held, in the same round trip."""
    row = conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtext(:s)), to_regclass(:t) IS NOT NULL"),
        {"s": schema, "t": f'"{schema}".alembic_version'},
    ).one()
    return bool(row[1])


def read_version(conn: Connection, schema: str) -> str | None:
    """The version in an (already checked) schema's Alembic version table, which must exist."""
    version = conn.execute(text(f'SELECT version_num FROM "{schema}".alembic_version')).scalar()
    return None if version is None else str(version)


def try_fleet_lock(conn: Connection, key: int) -> bool:
    """Take the session-level fleet lock if no one holds it."""
    return bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())


def release_fleet_lock(conn: Connection, key: int) -> None:
    """Release the session-level fleet lock."""
    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})


def record_migration(
    conn: Connection,
    *,
    tenant_id: uuid.UUID,
    revision: str | None,
    duration_ms: float,
    error: str | None,
    at: datetime,
) -> None:
    """Record a tenant's migration result on its registry row (`migrated_at` only on success)."""
    conn.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(
            schema_revision=revision,
            migrated_at=at if not error else Tenant.migrated_at,
            migration_duration_ms=round(duration_ms),
            migration_error=error,
        )
    )


def record_at_head(conn: Connection, *, tenant_ids: Sequence[uuid.UUID], head: str) -> None:
    """Record `head` on these tenants where the registry row says otherwise (e.g. after a crash)."""
    conn.execute(
        update(Tenant)
        .where(Tenant.id.in_(tenant_ids))
        .where((Tenant.schema_revision.is_distinct_from(head)) | Tenant.migration_error.is_not(None))
        .values(schema_revision=head, migration_error=None)
    )


def stream_table(session: Session, *, table: Table) -> Iterator[RowMapping]:
    """Every row of `table` (in the session's binding), fetched a thousand at a time."""
    result = session.execute(select(table), execution_options={"yield_per": 1000})
    yield from result.mappings()
