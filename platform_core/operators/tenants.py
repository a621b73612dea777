"""What an operator does to a tenant: create it with its owner, suspend, resume, give it an owner.

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

from platform_core.access.actor import Actor, ActorType
from platform_core.audit.repository import event_insert
from platform_core.audit.service import AuditAction
from platform_core.kernel.settings import Settings
from platform_core.members import owner as owners
from platform_core.members.owner import OwnerAccount, OwnerAdded
from platform_core.operators import repository
from tenants import lifecycle, provisioning
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


def _record(
    session: Session,
    tenant: Tenant,
    action: AuditAction,
    by: Actor,
    details: dict[str, Any],
    *,
    target: tuple[str, uuid.UUID] | None = None,
) -> None:
    """Append to the tenant's own audit log in the change's transaction (the target: the tenant)."""
    target_type, target_id = target or ("tenant", tenant.id)
    entry = event_insert(action, by, target_type=target_type, target_id=target_id, details=details)
    repository.insert_in_tenant(session, schema=tenant.schema_name, statement=entry)
