"""Tenant provisioning and lifecycle: the operations the CLI, the operator API and signup call."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import IO

from alembic.migration import MigrationContext
from sqlalchemy import Connection, select, update
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateSchema, DropSchema

from platform_core.access.actor import Actor, ActorType
from platform_core.access.cache import auth_changed_sync
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.app.models import TenantBase
from platform_core.audit.guard import install_append_only
from platform_core.audit.repository import event_insert
from platform_core.audit.service import AuditAction
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.alembic_config import head_revision, script_directory
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.db.engines import Database, tenant_options
from platform_core.kernel.settings import Settings
from platform_core.uploads.storage import configured_store
from tenants import repository
from tenants.exceptions import (
    DomainNotFound,
    DomainTaken,
    InvalidDomain,
    InvalidTenantState,
    OwnerExists,
    SlugTaken,
    TenantNotFound,
)
from tenants.export import ExportSummary, write_export
from tenants.models import Tenant, TenantDomain
from tenants.owner import (
    OwnerAccount,
    insert_owner,
    prepare_owner,
    seed_tenant_schema,
    send_set_password_email,
)
from tenants.slugs import normalise_domain, validate_slug
from workers.outbox.service import enqueue

# Who changed a tenant when the caller names nobody: an operator at the command line.
CLI = Actor(ActorType.OPERATOR, label="platformctl")
# The partial unique index that keeps live slugs unique (a purged tenant frees its slug).
SLUG_CONSTRAINT = "uq_tenant_slug_live"


# Tasks of other packages that follow a tenant's lifecycle, queued in the transaction that changes it.
# Named here, not imported, because those packages depend on tenants and not the other way round; a
# test checks that the worker has a task of each name.
# Billing's task that follows a tenant's deletion, restoration and purge with its Stripe subscription.
BILLING_FOLLOW_TASK = "billing.follow_tenant_lifecycle"
# Billing's task that sets a per-seat subscription's quantity to the member count.
BILLING_SEATS_TASK = "billing.sync_seats"
# The uploads task that deletes a purged tenant's files from the object storage.
PURGE_FILES_TASK = "uploads.purge_tenant_files"


@dataclass(frozen=True)
class OwnerAdded:
    """What `add_owner` did."""

    user_id: uuid.UUID
    email: str
    created: bool  # a new account (else an existing user was promoted)
    link_sent: bool  # a set-password link was emailed


@dataclass(frozen=True)
class TenantService:
    """Tenant operations over one Database; each public method runs in its own transaction."""

    db: Database
    settings: Settings

    def create(
        self, *, slug: str, name: str, owner_email: str | None = None, owner_password: str | None = None
    ) -> Tenant:
        """Create a tenant and its schema at the tenant head, atomically: on failure nothing remains.

        With `owner_email`, the owner account is created in the same transaction: with
        `owner_password` it can sign in at once; without, a set-password link is emailed (through the
        outbox, so the email leaves only if the tenant exists).
        """
        validate_slug(slug, self.settings.reserved)
        owner = prepare_owner(owner_email, owner_password) if owner_email else None
        head = head_revision(self.settings.migrations_dir, "tenant")
        with self.db.sync_session() as session, session.begin():
            tenant = Tenant(
                id=uuid.uuid4(),
                slug=slug,
                name=name.strip() or slug,
                owner_email=owner.email if owner else None,
                status=TenantStatus.ACTIVE.value,
                schema_revision=head,
                migrated_at=utcnow(),
            )
            session.add(tenant)
            taken = SlugTaken(f"The slug {slug!r} is taken.", details={"slug": slug})
            with constraint_errors({SLUG_CONSTRAINT: lambda: taken}):
                session.flush()
            self._build_schema(session.connection(), tenant.schema_name, tenant, owner)
            if owner and owner.password_hash is None:
                send_set_password_email(session, self.settings, tenant, owner)
            repository.notify_changed(session, tenant.id)
        return tenant

    def _build_schema(
        self, conn: Connection, schema: str, tenant: Tenant, owner: OwnerAccount | None
    ) -> None:
        """Create the schema from the current tenant metadata, seed it, and stamp the tenant head."""
        conn.execute(CreateSchema(schema))
        TenantBase.metadata.create_all(conn.execution_options(**tenant_options(schema)), checkfirst=False)
        install_append_only(conn, schema)
        seed_tenant_schema(conn, owner, self.settings)
        conn.execution_options(schema_translate_map=None)
        context = MigrationContext.configure(conn, opts={"version_table_schema": schema})
        context.stamp(script_directory(self.settings.migrations_dir, "tenant"), "heads")

    @staticmethod
    def _audit(session: Session, tenant: Tenant, action: AuditAction, by: Actor, details: dict) -> None:
        """Record a lifecycle change in the tenant's own audit log, in the change's transaction."""
        session.connection().execute(
            event_insert(action, by, target_type="tenant", target_id=tenant.id, details=details),
            execution_options=tenant_options(tenant.schema_name),
        )

    def get(self, slug: str) -> Tenant:
        """The live tenant with this slug."""
        with self.db.sync_session() as session:
            tenant = repository.get_live_by_slug(session, slug)
        if tenant is None:
            raise TenantNotFound(f"No tenant with slug {slug!r}.")
        return tenant

    def list(self, *, status: str | None = None) -> Sequence[Tenant]:
        """All tenants, optionally of one status."""
        with self.db.sync_session() as session:
            return repository.list_tenants(session, status=status)

    def suspend(self, slug: str, *, reason: str, by: Actor = CLI) -> Tenant:
        """Suspend an active tenant: its hosts answer 403 with the reason (recorded in its audit log)."""
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
                raise InvalidTenantState(f"A {tenant.status} tenant cannot be suspended.")
            tenant.status = TenantStatus.SUSPENDED.value
            tenant.suspended_reason = reason.strip() or "suspended by an operator"
            details = {"reason": tenant.suspended_reason}
            self._audit(session, tenant, AuditAction.TENANT_SUSPENDED, by, details)
            repository.notify_changed(session, tenant.id)
        return tenant

    def resume(self, slug: str, *, by: Actor = CLI) -> Tenant:
        """Make a suspended tenant, or one awaiting deletion, active again (recorded in its audit log)."""
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.DELETING):
                raise InvalidTenantState(f"A {tenant.status} tenant cannot be resumed.")
            self._audit(session, tenant, AuditAction.TENANT_RESUMED, by, {"from": tenant.status})
            if tenant.status == TenantStatus.DELETING:
                _tell_billing(session, tenant, "restored")
            tenant.status = TenantStatus.ACTIVE.value
            tenant.suspended_reason = None
            tenant.deleted_at = None
            tenant.purge_after = None
            repository.notify_changed(session, tenant.id)
        return tenant

    def add_owner(self, slug: str, *, email: str, password: str | None = None, by: Actor = CLI) -> OwnerAdded:
        """Make `email` an owner of the tenant: promote the user who has it, or create the account.

        For a tenant left without an owner (created without one, or every owner gone). A new account
        signs in with `password`, or is emailed a set-password link; an existing one keeps its
        password (given one, this refuses: use the password reset). Recorded in the tenant's audit
        log; a per-seat subscription is re-counted. Seat limits do not bind operators.
        """
        owner = prepare_owner(email, password)
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            if tenant.status not in (TenantStatus.ACTIVE, TenantStatus.SUSPENDED):
                raise InvalidTenantState(f"A {tenant.status} tenant cannot get an owner.")
            conn = session.connection().execution_options(**tenant_options(tenant.schema_name))
            existing = conn.execute(
                select(User.id, User.role_id).where(User.email == owner.email)
            ).one_or_none()
            if existing is not None and password:
                raise OwnerExists(
                    f"{owner.email} already has an account: it is promoted without a password; "
                    "they can reset theirs.",
                    details={"email": owner.email},
                )
            owner_role = builtin_role_id("owner")
            if existing is None:
                insert_owner(conn, owner, self.settings)
                if owner.password_hash is None:
                    send_set_password_email(session, self.settings, tenant, owner)
                enqueue(session, BILLING_SEATS_TASK, tenant_id=tenant.id)
                user_id, created = owner.id, True
            else:
                conn.execute(
                    update(User).where(User.id == existing.id).values(role_id=owner_role, is_active=True)
                )
                user_id, created = existing.id, False
            details = {"email": owner.email, "created": created}
            entry = event_insert(
                AuditAction.OWNER_ADDED, by, target_type="user", target_id=user_id, details=details
            )
            session.connection().execute(entry, execution_options=tenant_options(tenant.schema_name))
            auth_changed_sync(session, tenant.id)
        link_sent = owner.link_token is not None
        return OwnerAdded(user_id=user_id, email=owner.email, created=created, link_sent=link_sent)

    def export(self, slug: str, out: IO[bytes], *, with_files: bool = False) -> ExportSummary:
        """Write the tenant's export archive (tenants/export.py) to `out`; the tenant must have data."""
        tenant = self.get(slug)
        if tenant.status in (TenantStatus.DELETED, TenantStatus.PROVISIONING):
            raise InvalidTenantState(f"A {tenant.status} tenant has no data to export.")
        return write_export(self.db, tenant, out, store=configured_store(), with_files=with_files)

    def rename(self, slug: str, *, new_slug: str) -> Tenant:
        """Change a tenant's slug (its subdomain); the schema, derived from the id, stays."""
        validate_slug(new_slug, self.settings.reserved)
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            tenant.slug = new_slug
            taken = SlugTaken(f"The slug {new_slug!r} is taken.", details={"slug": new_slug})
            with constraint_errors({SLUG_CONSTRAINT: lambda: taken}):
                session.flush()
            repository.notify_changed(session, tenant.id)
        return tenant

    def mark_deleted(self, slug: str, *, grace_days: int | None = None) -> Tenant:
        """Start deletion: the tenant stops serving, and its data is kept for the grace period."""
        days = self.settings.tenant_delete_grace_days if grace_days is None else grace_days
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            if tenant.status != TenantStatus.DELETING:
                now = utcnow()
                tenant.status = TenantStatus.DELETING.value
                tenant.deleted_at = now
                tenant.purge_after = now + timedelta(days=days)
                _tell_billing(session, tenant, "deleted")
            repository.notify_changed(session, tenant.id)
        return tenant

    def purge(self, slug: str, *, force: bool = False) -> Tenant:
        """Drop the schema of a tenant whose grace period is over; the registry row stays as `deleted`."""
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            if tenant.status != TenantStatus.DELETING or tenant.purge_after is None:
                raise InvalidTenantState("Only a tenant marked for deletion can be purged; delete it first.")
            if not force and tenant.purge_after > utcnow():
                raise InvalidTenantState(
                    f"The grace period ends at {tenant.purge_after.isoformat()}; purge then, or force it.",
                    details={"purge_after": tenant.purge_after.isoformat()},
                )
            session.execute(DropSchema(tenant.schema_name, cascade=True, if_exists=True))
            tenant.status = TenantStatus.DELETED.value
            _tell_billing(session, tenant, "purged")
            enqueue(session, PURGE_FILES_TASK, tenant_id=tenant.id)
            repository.notify_changed(session, tenant.id)
        return tenant

    def add_domain(self, slug: str, domain: str) -> TenantDomain:
        """Attach a custom domain to a tenant; it serves nothing until verified."""
        name = normalise_domain(domain)
        base = self.settings.base_domain
        if name == base or name.endswith("." + base):
            raise InvalidDomain(f"Subdomains of {base} are not custom domains.", details={"domain": name})
        with self.db.sync_session() as session, session.begin():
            tenant = self._locked(session, slug)
            record = TenantDomain(tenant_id=tenant.id, domain=name, verification_token=secrets.token_hex(16))
            session.add(record)
            taken = DomainTaken(f"The domain {name!r} is already attached to a tenant.")
            with constraint_errors({"uq_tenant_domain_domain": lambda: taken}):
                session.flush()
        return record

    def verify_domain(self, domain: str) -> TenantDomain:
        """Mark a custom domain verified (an operator has checked its DNS); it starts serving."""
        with self.db.sync_session() as session, session.begin():
            record = self._domain(session, domain)
            record.verified_at = record.verified_at or utcnow()
            repository.notify_changed(session, record.tenant_id)
        return record

    def remove_domain(self, domain: str) -> None:
        """Detach a custom domain; it stops serving at once."""
        with self.db.sync_session() as session, session.begin():
            record = self._domain(session, domain)
            session.delete(record)
            repository.notify_changed(session, record.tenant_id)

    def list_domains(self, slug: str) -> Sequence[TenantDomain]:
        """A tenant's custom domains."""
        with self.db.sync_session() as session:
            return repository.list_domains(session, self._locked(session, slug).id)

    def _domain(self, session: Session, domain: str) -> TenantDomain:
        record = repository.get_domain(session, normalise_domain(domain))
        if record is None:
            raise DomainNotFound(f"No tenant has the domain {domain!r}.")
        return record

    def _locked(self, session: Session, slug: str) -> Tenant:
        tenant = repository.get_live_by_slug(session, slug, for_update=True)
        if tenant is None:
            raise TenantNotFound(f"No tenant with slug {slug!r}.")
        return tenant


def _tell_billing(session: Session, tenant: Tenant, change: str) -> None:
    """Queue billing's follow-up in the transaction that changes the tenant (nothing lost, nothing early)."""
    enqueue(session, BILLING_FOLLOW_TASK, tenant_id=tenant.id, change=change, at=utcnow().isoformat())
