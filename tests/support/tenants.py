"""Tenant operations for tests, as `platformctl tenants ...` runs them: each one its own unit of work.

The functions themselves (tenants.provisioning, tenants.lifecycle, tenants.domains and what operators
do, platform_core.operators.tenants) never commit; here each call opens a session on `public`, runs,
and commits, so the tenant is there for the app, workers and other connections.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from platform_core.access.actor import Actor
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from platform_core.members.owner import OwnerAdded, prepare_owner
from platform_core.operators import tenants as tenant_actions
from tenants import domains, lifecycle
from tenants.models import Tenant, TenantDomain

T = TypeVar("T")


@dataclass(frozen=True)
class TenantOps:
    """Tenant operations on one Database; each call commits on its own."""

    db: Database
    settings: Settings

    def run(self, fn: Callable[..., T], **kwargs: Any) -> T:
        """Run `fn(session, **kwargs)` in a transaction of its own, committed if it returns."""
        with self.db.sync_session() as session, session.begin():
            return fn(session, **kwargs)

    def create(
        self, *, slug: str, name: str, owner_email: str | None = None, owner_password: str | None = None
    ) -> Tenant:
        """Create a tenant (and its owner), as `tenants create` does."""
        return self.run(
            tenant_actions.create_tenant,
            settings=self.settings,
            slug=slug,
            name=name,
            owner_email=owner_email,
            owner_password=owner_password,
        )

    def get(self, slug: str) -> Tenant:
        """The live tenant with this slug."""
        return self.run(lifecycle.get_tenant, slug=slug)

    def list(self, *, status: str | None = None) -> Sequence[Tenant]:
        """All tenants, optionally of one status."""
        return self.run(lifecycle.list_tenants, status=status)

    def suspend(self, slug: str, *, reason: str, by: Actor = tenant_actions.CLI_ACTOR) -> Tenant:
        """Suspend a tenant, recorded in its audit log."""
        return self.run(tenant_actions.suspend_tenant, slug=slug, reason=reason, by=by)

    def resume(self, slug: str, *, by: Actor = tenant_actions.CLI_ACTOR) -> Tenant:
        """Resume a tenant, recorded in its audit log."""
        return self.run(tenant_actions.resume_tenant, slug=slug, by=by)

    def add_owner(
        self, slug: str, *, email: str, password: str | None = None, by: Actor = tenant_actions.CLI_ACTOR
    ) -> OwnerAdded:
        """Make someone an owner of a tenant, as `tenants add-owner` does."""
        owner = prepare_owner(email, password)
        return self.run(tenant_actions.add_owner, settings=self.settings, slug=slug, owner=owner, by=by)

    def rename(self, slug: str, *, new_slug: str) -> Tenant:
        """Change a tenant's slug."""
        return self.run(lifecycle.rename, settings=self.settings, slug=slug, new_slug=new_slug)

    def mark_deleted(self, slug: str, *, grace_days: int | None = None) -> Tenant:
        """Start a tenant's deletion."""
        return self.run(lifecycle.mark_deleted, settings=self.settings, slug=slug, grace_days=grace_days)

    def purge(self, slug: str, *, force: bool = False) -> Tenant:
        """Drop a deleted tenant's schema."""
        return self.run(lifecycle.purge, slug=slug, force=force)

    def add_domain(self, slug: str, domain: str) -> TenantDomain:
        """Attach a custom domain."""
        return self.run(domains.add_domain, settings=self.settings, slug=slug, domain=domain)

    def verify_domain(self, domain: str) -> TenantDomain:
        """Mark a custom domain verified."""
        return self.run(domains.verify_domain, domain=domain)

    def remove_domain(self, domain: str) -> None:
        """Detach a custom domain."""
        self.run(domains.remove_domain, domain=domain)

    def list_domains(self, slug: str) -> Sequence[TenantDomain]:
        """A tenant's custom domains."""
        return self.run(domains.list_domains, slug=slug)
