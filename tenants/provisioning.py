"""Provisioning: a tenant's registry row and its schema at the tenant head, in the caller's transaction.

Nothing here commits: the caller (the CLI command, a request, a task) owns the transaction, so a failure
anywhere leaves neither the row nor the schema (CREATE SCHEMA is transactional in PostgreSQL).

The schema comes from the warm pool when one waits there at the tenant head (tenants/pool.py: the
tenant takes the pooled schema's id, so its derived schema name is the pooled one); else it is built
cold from the tenant DDL rendered once per process (tenants/schema_ddl.py), in one round trip.
"""

from __future__ import annotations

import uuid
from typing import Protocol

from sqlalchemy.orm import Session

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import tenant_metadata, utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.settings import Settings
from tenants import pool, repository, schema_ddl
from tenants.exceptions import SlugTaken
from tenants.models import Tenant
from tenants.slugs import validate_slug

# The partial unique index that keeps live slugs unique (a purged tenant frees its slug).
SLUG_CONSTRAINT = "uq_tenant_slug_live"


class SchemaSeed(Protocol):
    """What a new schema starts with (built-in roles, an owner), written by the layers that own those
    tables: called in the provisioning transaction once the tables exist. Tenant tables are reached
    through `in_schema(session, tenant.schema_name)` (platform_core/kernel/db/binding.py)."""

    def __call__(self, session: Session, tenant: Tenant) -> None:
        """Fill the new tenant's schema."""


def taken(slug: str) -> SlugTaken:
    """The error for a slug that a live tenant has."""
    return SlugTaken(f"The slug {slug!r} is taken.", details={"slug": slug})


def create_tenant(
    session: Session,
    *,
    settings: Settings,
    slug: str,
    name: str,
    seed: SchemaSeed,
    owner_email: str | None = None,
) -> Tenant:
    """Create a tenant with its schema at the tenant head (claimed from the warm pool, else built from
    the complete tenant metadata), seeded.

    All in the session's transaction, which the caller commits: a failure leaves nothing behind (and a
    claimed schema back in the pool). The metadata must be complete (platform_core.app.models
    imported), else this raises RuntimeError.
    """
    validate_slug(slug, settings.reserved)
    metadata = tenant_metadata()
    head = head_revision(settings.migrations_dir, "tenant")
    pooled_id = pool.claim(session, head=head)
    tenant = Tenant(
        id=pooled_id or uuid.uuid4(),
        slug=slug,
        name=name.strip() or slug,
        owner_email=owner_email,
        status=TenantStatus.ACTIVE.value,
        schema_revision=head,
        migrated_at=utcnow(),
    )
    session.add(tenant)
    with constraint_errors({SLUG_CONSTRAINT: lambda: taken(slug)}):
        session.flush()
    if pooled_id is None:
        schema_ddl.create_schema(
            session.connection(),
            metadata=metadata,
            script=script_directory(settings.migrations_dir, "tenant"),
            head=head,
            schema=tenant.schema_name,
        )
    seed(session, tenant)
    repository.notify_changed(session, tenant.id)
    return tenant
