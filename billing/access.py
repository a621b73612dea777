"""Access follows the subscription: what a tenant may do given its billing status, and its entitlements.

trialing/active grant the plan; past_due keeps everything for BILLING_PAST_DUE_GRACE_DAYS, then the
tenant is read-only (writes get 402 with a link to billing); unpaid, canceled and the other dead ends
leave only billing and sign-in (402). A tenant without a subscription has the default (free) plan.
"""

from __future__ import annotations

from datetime import timedelta

from billing.catalog import Catalog, Entitlements, PlanSpec, get_catalog
from billing.exceptions import PaymentOverdue, SubscriptionInactive
from billing.settings import BillingSettings
from platform_core.access.permissions import Permission
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import AppError
from platform_core.kernel.settings import Settings

BILLING_PERMISSIONS = frozenset({Permission.BILLING_READ, Permission.BILLING_MANAGE})
READS = frozenset({"GET", "HEAD", "OPTIONS"})
GRANTING = frozenset({"trialing", "active", "past_due"})
BLOCKED = frozenset({"unpaid", "canceled", "incomplete_expired", "paused"})


def plan_of(tenant: TenantContext, catalog: Catalog | None = None) -> PlanSpec:
    """The plan whose entitlements apply to the tenant now."""
    catalog = catalog or get_catalog()
    if tenant.billing_status in GRANTING and tenant.plan_key:
        try:
            return catalog.plan(tenant.plan_key)
        except KeyError:
            pass
    return catalog.default


def entitlements_of(tenant: TenantContext) -> Entitlements:
    """What the tenant's plan allows."""
    return plan_of(tenant).entitlements


class BillingAccessPolicy:
    """Called by every permission gate after the permission check (app.state.access_policy)."""

    def __init__(self, settings: Settings, billing: BillingSettings) -> None:
        self.settings = settings
        self.grace = timedelta(days=billing.billing_past_due_grace_days)

    def __call__(self, tenant: TenantContext, permission: Permission, method: str) -> None:
        """Refuse what the tenant's billing status does not allow (402 naming the reason)."""
        status = tenant.billing_status
        if status in ("none", "trialing", "active", "incomplete") or permission in BILLING_PERMISSIONS:
            return
        if status == "past_due":
            if (
                method in READS
                or tenant.past_due_since is None
                or utcnow() < tenant.past_due_since + self.grace
            ):
                return
            raise PaymentOverdue(
                "Payment is overdue: this workspace is read-only until the invoice is paid.",
                details={"status": status, "billing_url": self._billing_url(tenant)},
            )
        if status in BLOCKED:
            raise SubscriptionInactive(
                f"The subscription is {status}: only billing is available until it is renewed.",
                details={"status": status, "billing_url": self._billing_url(tenant)},
            )

    def refusals(self, permission: Permission, method: str) -> tuple[type[AppError], ...]:
        """What `__call__` may refuse for this permission and method: listed in the OpenAPI documents."""
        if permission in BILLING_PERMISSIONS:
            return ()
        return (SubscriptionInactive,) if method in READS else (PaymentOverdue, SubscriptionInactive)

    def api_rate_limit(self, tenant: TenantContext) -> str | None:
        """The plan's rate for API-key requests."""
        return plan_of(tenant).entitlements.api_rate_limit

    def _billing_url(self, tenant: TenantContext) -> str:
        return self.settings.tenant_url(tenant.slug, "/settings/billing")
