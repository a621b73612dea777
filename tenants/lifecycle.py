"""A tenant's life after provisioning: suspend, resume, rename, delete (with a grace period), purge.

Module functions on the caller's session that never commit: the CLI command, the request or the task
that calls them owns the transaction. Each change locks the tenant's row, and runs
`pg_notify('tenant_changed', ...)` in its transaction, so API processes drop their cached host
resolutions when it commits (and only then).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import Settings
from tenants import repository
from tenants.exceptions import InvalidTenantState, TenantNotFound
from tenants.models import Tenant
from tenants.provisioning import SLUG_CONSTRAINT, taken
from tenants.slugs import validate_slug

# Tasks of other packages that follow a tenant's lifecycle, queued in the transaction that changes it.
# Named here, not imported, because those packages depend on tenants and not the other way round; a
# test checks that the worker has a task of each name.
# Billing's task that follows a tenant's deletion, restoration and purge with its Stripe subscription.
BILLING_FOLLOW_TASK = "billing.follow_tenant_lifecycle"
# The uploads task that deletes a purged tenant's files from the object storage.
PURGE_FILES_TASK = "uploads.purge_tenant_files"
# The states in which a tenant has its data and may serve again.
IN_SERVICE = frozenset({TenantStatus.ACTIVE, TenantStatus.SUSPENDED})


def get_tenant(session: Session, *, slug: str) -> Tenant:
    """The live tenant with this slug; TenantNotFound otherwise."""
    tenant = repository.get_live_by_slug(session, slug)
    if tenant is None:
        raise TenantNotFound(f"No tenant with slug {slug!r}.")
    return tenant


def list_tenants(session: Session, *, status: str | None = None) -> Sequence[Tenant]:
    """All tenants by slug, optionally of one status."""
    return repository.list_tenants(session, status=status)


def lock(session: Session, *, slug: str) -> Tenant:
    """The live tenant with this slug, its row locked until the transaction ends; TenantNotFound otherwise."""
    tenant = repository.get_live_by_slug(session, slug, for_update=True)
    if tenant is None:
        raise TenantNotFound(f"No tenant with slug {slug!r}.")
    return tenant


def lock_in_service(session: Session, *, slug: str, refusal: str) -> Tenant:
    """`lock` a tenant that is active or suspended; InvalidTenantState otherwise.

    `refusal` ends the error message: "A deleting tenant {refusal}." ("cannot get an owner").
    """
    tenant = lock(session, slug=slug)
    if tenant.status not in IN_SERVICE:
        raise InvalidTenantState(f"A {tenant.status} tenant {refusal}.")
    return tenant


def suspend(session: Session, *, slug: str, reason: str) -> Tenant:
    """Suspend an active tenant: its hosts answer 403 with the reason."""
    tenant = lock_in_service(session, slug=slug, refusal="cannot be suspended")
    tenant.status = TenantStatus.SUSPENDED.value
    tenant.suspended_reason = reason.strip() or "suspended by an operator"
    repository.notify_changed(session, tenant.id)
    return tenant


def resume(session: Session, *, slug: str) -> Tenant:
    """Make a suspended tenant, or one awaiting deletion, active again."""
    tenant = lock(session, slug=slug)
    if tenant.status not in (*IN_SERVICE, TenantStatus.DELETING):
        raise InvalidTenantState(f"A {tenant.status} tenant cannot be resumed.")
    if tenant.status == TenantStatus.DELETING:
        _tell_billing(session, tenant.id, "restored")
    tenant.status = TenantStatus.ACTIVE.value
    tenant.suspended_reason = None
    tenant.deleted_at = None
    tenant.purge_after = None
    repository.notify_changed(session, tenant.id)
    return tenant


def rename(session: Session, *, settings: Settings, slug: str, new_slug: str) -> Tenant:
    """Change a tenant's slug (its subdomain); the schema, derived from the id, stays."""
    validate_slug(new_slug, settings.reserved)
    tenant = lock(session, slug=slug)
    tenant.slug = new_slug
    with constraint_errors({SLUG_CONSTRAINT: lambda: taken(new_slug)}):
        session.flush()
    repository.notify_changed(session, tenant.id)
    return tenant


def mark_deleted(session: Session, *, settings: Settings, slug: str, grace_days: int | None = None) -> Tenant:
    """Start deletion: the tenant stops serving, and its data is kept for the grace period."""
    days = settings.tenant_delete_grace_days if grace_days is None else grace_days
    tenant = lock(session, slug=slug)
    if tenant.status != TenantStatus.DELETING:
        now = utcnow()
        tenant.status = TenantStatus.DELETING.value
        tenant.deleted_at = now
        tenant.purge_after = now + timedelta(days=days)
        _tell_billing(session, tenant.id, "deleted")
    repository.notify_changed(session, tenant.id)
    return tenant


def purge(session: Session, *, slug: str, force: bool = False) -> Tenant:
    """Drop the schema of a tenant whose grace period is over; the registry row stays as `deleted`.

    Its files are deleted from the object storage by the uploads task PURGE_FILES_TASK, queued here.
    """
    tenant = lock(session, slug=slug)
    if tenant.status != TenantStatus.DELETING or tenant.purge_after is None:
        raise InvalidTenantState("Only a tenant marked for deletion can be purged; delete it first.")
    if not force and tenant.purge_after > utcnow():
        raise InvalidTenantState(
            f"The grace period ends at {tenant.purge_after.isoformat()}; purge then, or force it.",
            details={"purge_after": tenant.purge_after.isoformat()},
        )
    repository.drop_schema(session, schema=tenant.schema_name)
    tenant.status = TenantStatus.DELETED.value
    _tell_billing(session, tenant.id, "purged")
    enqueue(session, PURGE_FILES_TASK, tenant_id=tenant.id)
    repository.notify_changed(session, tenant.id)
    return tenant


def _tell_billing(session: Session, tenant_id: uuid.UUID, change: str) -> None:
    """Queue billing's follow-up in the transaction that changes the tenant (nothing lost, nothing early)."""
    enqueue(session, BILLING_FOLLOW_TASK, tenant_id=tenant_id, change=change, at=utcnow().isoformat())
