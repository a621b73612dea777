"""Access follows the subscription: what a tenant may do given its billing status.

trialing/active grant the plan; past_due keeps everything for BILLING_PAST_DUE_GRACE_DAYS, then the
tenant is read-only (writes get 402 with a link to billing); unpaid, canceled and the other dead ends
leave only billing and sign-in (402). A tenant without a subscription has the default (free) plan.
The status comes from the process's billing state cache (billing/state.py): a warm request costs no
query.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import Request

from billing.exceptions import PaymentOverdue, SubscriptionInactive
from billing.settings import BillingSettings
from billing.state import BILLING_STATES, BillingStates, plan_of, state_for_request
from platform_core.access.permissions import Permission
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.errors import AppError
from platform_core.kernel.settings import Settings

BILLING_PERMISSIONS = frozenset({Permission.BILLING_READ, Permission.BILLING_MANAGE})
READS = frozenset({"GET", "HEAD", "OPTIONS"})
FULL_ACCESS = frozenset({"none", "trialing", "active", "incomplete"})
BLOCKED = frozenset({"unpaid", "canceled", "incomplete_expired", "paused"})


class BillingAccessPolicy:
    """Called by every permission gate after the permission check (app.state.access_policy)."""

    def __init__(
        self, settings: Settings, billing: BillingSettings, states: BillingStates = BILLING_STATES
    ) -> None:
        self.settings = settings
        self.grace = timedelta(days=billing.billing_past_due_grace_days)
        self.states = states

    async def __call__(self, request: Request, tenant: TenantContext, permission: Permission) -> None:
        """Refuse what the tenant's billing status does not allow (402 naming the reason)."""
        if permission in BILLING_PERMISSIONS:
            return
        # The warm path inline (no coroutine of its own): this runs on every gated request.
        state = self.states.cached(tenant.id) or await state_for_request(request, tenant, self.states)
        status = state.status
        if status in FULL_ACCESS:
            return
        if status == "past_due":
            since = state.past_due_since
            if request.method in READS or since is None or utcnow() < since + self.grace:
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

    async def api_rate_limit(self, request: Request, tenant: TenantContext) -> str | None:
        """The plan's rate for API-key requests."""
        return plan_of(await state_for_request(request, tenant, self.states)).entitlements.api_rate_limit

    def _billing_url(self, tenant: TenantContext) -> str:
        return self.settings.tenant_url(tenant.slug, "/settings/billing")
