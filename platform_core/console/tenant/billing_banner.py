"""What the console tells a user about the workspace's billing state, when it matters to them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing import repository as billing_repository
from billing.access import BLOCKED
from billing.settings import get_billing_settings
from billing.state import NO_ACCOUNT, plan_of, state_of
from platform_core.console.tenant.pages import TenantPage
from platform_core.kernel.db.base import utcnow


@dataclass(frozen=True, slots=True)
class BillingNotice:
    """The plan's name, and a sentence about the subscription when it needs attention."""

    plan_name: str
    status: str
    message: str | None
    level: str = "info"  # info, warning, danger


def _days(until: datetime, now: datetime) -> int:
    return max(0, (until - now + timedelta(hours=23, minutes=59)).days)


async def billing_notice(page: TenantPage) -> BillingNotice:
    """The workspace's plan and what its subscription's state means now (trial, past due, read-only)."""
    account = await billing_repository.get_account_async(page.session, page.tenant.id)
    if account is None:
        plan = plan_of(NO_ACCOUNT)
        return BillingNotice(plan.name, "none", None)
    plan = plan_of(state_of(account))
    now = utcnow()
    status = account.status
    if status == "trialing" and account.trial_end is not None:
        days = _days(account.trial_end, now)
        return BillingNotice(
            plan.name,
            status,
            f"Your trial ends in {days} day{'s' if days != 1 else ''} ({account.trial_end:%Y-%m-%d}).",
        )
    if status == "past_due":
        grace = timedelta(days=get_billing_settings().billing_past_due_grace_days)
        since = account.past_due_since or now
        if now < since + grace:
            return BillingNotice(
                plan.name,
                status,
                f"Payment is past due. Update the payment method by {since + grace:%Y-%m-%d} "
                "to keep full access.",
                "warning",
            )
        return BillingNotice(
            plan.name,
            status,
            "Payment is overdue: this workspace is read-only until the invoice is paid.",
            "danger",
        )
    if status in BLOCKED:
        return BillingNotice(
            plan.name,
            status,
            f"The subscription is {status}: only billing is available until it is renewed.",
            "danger",
        )
    if account.cancel_at_period_end and account.current_period_end is not None:
        return BillingNotice(
            plan.name, status, f"The subscription ends on {account.current_period_end:%Y-%m-%d}.", "warning"
        )
    return BillingNotice(plan.name, status, None)
