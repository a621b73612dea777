"""What an operator does to a tenant: create it with its owner, suspend, resume, delete and restore, give
it an owner; and to the platform: replay parked Stripe events.

Each is the tenants lifecycle (or provisioning) plus what the tenants package must not know about: the
schema's built-in roles and owner (members), and the entry in the tenant's own audit log, written in
the same transaction as the change. Sync functions on the caller's session that never commit: the CLI
command commits, the operator API calls them with `await session.run_sync(...)` on the request's
session (committed before the response starts).
"""

from __future__ import annotations

import logging
import uuid
from functools import partial
from typing import Any

from sqlalchemy.orm import Session

from billing import service as billing_service
from platform_core.access.actor import Actor, ActorType
from platform_core.audit.repository import event_insert
from platform_core.audit.service import AuditAction
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import Settings
from platform_core.members import owner as owners
from platform_core.members.owner import OwnerAccount, OwnerAdded
from platform_core.operators import repository
from platform_core.operators.models import TenantExport
from tenants import lifecycle, provisioning
from tenants.exceptions import InvalidTenantState
from tenants.export import exportable_tenant
from tenants.models import Tenant
from tenants.slugs import validate_slug

logger = logging.getLogger("platform.operators")

# Who changed a tenant from the command line: an operator, named by the tool.
CLI_ACTOR = Actor(ActorType.OPERATOR, label="platformctl")


def create_tenant(
    session: Session,
    *,
    settings: Settings,
    slug: str,
    name: str,
    owner_email: str | None = None,
    owner_password: str | None = None,
) -> Tenant:
    """Create a tenant, its schema with the built-in roles and, with `owner_email`, its owner.

    All in the session's transaction: with `owner_password` the owner can sign in once it commits;
    without, a set-password link is emailed through the outbox (so only if the tenant exists). The
    slug, email and password are checked, and the password hashed, before any statement is sent.
    """
    validate_slug(slug, settings.reserved)
    owner = owners.prepare_owner(owner_email, owner_password) if owner_email else None
    return provisioning.create_tenant(
        session,
        settings=settings,
        slug=slug,
        name=name,
        owner_email=owner.email if owner else None,
        seed=partial(owners.seed_schema, owner=owner, settings=settings),
    )


def suspend_tenant(session: Session, *, slug: str, reason: str, by: Actor = CLI_ACTOR) -> Tenant:
    """Suspend a tenant (its hosts answer 403 with the reason); its audit log records who did it."""
    tenant = lifecycle.suspend(session, slug=slug, reason=reason)
    _record(session, tenant, AuditAction.TENANT_SUSPENDED, by, {"reason": tenant.suspended_reason})
    logger.info("tenant %s suspended by %s", tenant.slug, by.label)
    return tenant


def resume_tenant(session: Session, *, slug: str, by: Actor = CLI_ACTOR) -> Tenant:
    """Make a suspended tenant, or one awaiting deletion, active again; recorded in its audit log."""
    previous = lifecycle.lock(session, slug=slug).status
    tenant = lifecycle.resume(session, slug=slug)
    _record(session, tenant, AuditAction.TENANT_RESUMED, by, {"from": previous})
    logger.info("tenant %s resumed by %s", tenant.slug, by.label)
    return tenant


def delete_tenant(
    session: Session, *, settings: Settings, slug: str, grace_days: int | None = None, by: Actor = CLI_ACTOR
) -> Tenant:
    """Mark a tenant for deletion (its hosts answer 410; its data is kept for the grace period, during
    which `restore_tenant` brings it back); recorded in its audit log."""
    previous = lifecycle.lock(session, slug=slug).status
    tenant = lifecycle.mark_deleted(session, settings=settings, slug=slug, grace_days=grace_days)
    if previous != TenantStatus.DELETING:
        purge_after = tenant.purge_after.isoformat() if tenant.purge_after else None
        _record(
            session, tenant, AuditAction.TENANT_DELETED, by, {"from": previous, "purge_after": purge_after}
        )
        logger.info("tenant %s marked for deletion by %s", tenant.slug, by.label)
    return tenant


def restore_tenant(session: Session, *, slug: str, by: Actor = CLI_ACTOR) -> Tenant:
    """Bring back a tenant marked for deletion, until it is purged (the lifecycle's `resume` of a
    deleting tenant); InvalidTenantState for any other status. Recorded in its audit log."""
    tenant = lifecycle.lock(session, slug=slug)
    if tenant.status != TenantStatus.DELETING:
        raise InvalidTenantState(
            f"Only a tenant marked for deletion can be restored; this one is {tenant.status}."
        )
    purge_after = tenant.purge_after.isoformat() if tenant.purge_after else None
    tenant = lifecycle.resume(session, slug=slug)
    _record(session, tenant, AuditAction.TENANT_RESTORED, by, {"purge_after": purge_after})
    logger.info("tenant %s restored by %s", tenant.slug, by.label)
    return tenant


def add_owner(
    session: Session, *, settings: Settings, slug: str, owner: OwnerAccount, by: Actor = CLI_ACTOR
) -> OwnerAdded:
    """Make someone an owner of an active or suspended tenant (members.owner.add_owner's rules).

    `owner` comes from `prepare_owner` (or `prepare_owner_async` in the API): the password is hashed
    before the transaction. Recorded in the tenant's audit log.
    """
    tenant = lifecycle.lock_in_service(session, slug=slug, refusal="cannot get an owner")
    added = owners.add_owner(session, settings=settings, tenant=tenant, owner=owner)
    details = {"email": added.email, "created": added.created}
    _record(session, tenant, AuditAction.OWNER_ADDED, by, details, target=("user", added.user_id))
    logger.info("%s made %s an owner of %s", by.label, added.email, slug)
    return added


# The worker task that builds an export (platform_core/operators/tasks.py), named for the outbox.
EXPORT_TASK = "operators.export_tenant"


def request_export(
    session: Session, *, slug: str, with_files: bool = False, by: Actor = CLI_ACTOR
) -> TenantExport:
    """Ask a worker for an export of a tenant that has data (active, suspended or awaiting deletion): the
    record and its task are written in the caller's transaction; recorded in the tenant's audit log."""
    tenant = exportable_tenant(session, slug=slug)
    export = TenantExport(tenant_id=tenant.id, requested_by=by.label, with_files=with_files, status="queued")
    session.add(export)
    session.flush()
    enqueue(session, EXPORT_TASK, export_id=str(export.id))
    details = {"export_id": str(export.id), "with_files": with_files}
    _record(session, tenant, AuditAction.TENANT_EXPORT_REQUESTED, by, details)
    logger.info("%s asked for an export of %s", by.label, tenant.slug)
    return export


# The platform log's name of a replay of Stripe events.
EVENTS_REPLAYED = "billing.events_replayed"


def replay_stripe_events(
    session: Session,
    *,
    include_failed: bool = False,
    event_ids: list[str] | None = None,
    by: Actor = CLI_ACTOR,
) -> list[str]:
    """Queue parked (optionally failed) Stripe events for processing again (billing's replay), recorded
    in the platform's log of operator actions when any was queued; returns the ids queued."""
    ids = billing_service.replay_events(session, include_failed=include_failed, event_ids=event_ids)
    if ids:
        details = {"event_ids": ids, "include_failed": include_failed}
        repository.add_action(
            session, by, action=EVENTS_REPLAYED, target_type="stripe_event", details=details
        )
        logger.info("%s queued %d Stripe event(s) again", by.label, len(ids))
    return ids


def _record(
    session: Session,
    tenant: Tenant,
    action: AuditAction,
    by: Actor,
    details: dict[str, Any],
    *,
    target: tuple[str, uuid.UUID] | None = None,
) -> None:
    """Append to the tenant's own audit log in the change's transaction (the target: the tenant), and to
    the platform's log of operator actions (which outlives a purge)."""
    target_type, target_id = target or ("tenant", tenant.id)
    entry = event_insert(action, by, target_type=target_type, target_id=target_id, details=details)
    repository.insert_in_tenant(session, schema=tenant.schema_name, statement=entry)
    repository.add_action(
        session,
        by,
        action=action.value,
        target_type="tenant",
        target_id=tenant.slug,
        details={**details, "tenant_id": str(tenant.id)},
    )
