"""What the console tells a user about the workspace's billing state, when it matters to them.

The home page shows it as a banner; the billing page shows the same sentence beside the plan, so the
two never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from billing import service as billing_service
from billing.access import BLOCKED
from billing.schemas import BillingRead
from billing.settings import get_billing_settings
from billing.usage import UsageMeters
from platform_core.console.tenant.pages import TenantPage
from platform_core.kernel.db.base import utcnow


@dataclass(frozen=True, slots=True)
class BillingNotice:
    """The plan's name, and a sentence about the subscription when it needs attention."""

    plan_name: str
    status: str
    message: str | None
    level: str = "info"  # info, warning, danger


def day(moment: datetime) -> str:
    """A date as people read it: 4 March 2026."""
    return f"{moment.day} {moment:%B %Y}"


def days_until(until: datetime, now: datetime) -> int:
    """Whole days left until `until`, counting a part of a day as one (never negative)."""
    return max(0, (until - now + timedelta(hours=23, minutes=59)).days)


def _in_days(days: int) -> str:
    if days == 0:
        return "today"
    return f"in {days} day{'s' if days != 1 else ''}"


def overdue_from(billing: BillingRead, now: datetime) -> datetime | None:
    """When a past-due workspace becomes (or became) read-only; None when it is not past due."""
    if billing.status != "past_due":
        return None
    grace = timedelta(days=get_billing_settings().billing_past_due_grace_days)
    return (billing.past_due_since or now) + grace


def notice_of(billing: BillingRead, now: datetime | None = None) -> BillingNotice:
    """What the subscription's state means now: trial, past due, read-only, blocked, ending."""
    now = now or utcnow()
    name, status = billing.plan.name, billing.status
    ending = billing.cancel_at_period_end and billing.current_period_end is not None
    if status == "trialing" and billing.trial_end is not None:
        days = days_until(billing.trial_end, now)
        text = f"Your trial ends {_in_days(days)} ({day(billing.trial_end)})"
        if ending:
            return BillingNotice(name, status, f"{text}, and the subscription ends with it.", "warning")
        return BillingNotice(name, status, f"{text}.", "warning" if days <= 3 else "info")
    read_only_from = overdue_from(billing, now)
    if read_only_from is not None:
        if now < read_only_from:
            return BillingNotice(
                name,
                status,
                f"Payment is past due. Update the payment method by {day(read_only_from)} "
                "to keep full access.",
                "warning",
            )
        return BillingNotice(
            name,
            status,
            "Payment is overdue: this workspace is read-only until the invoice is paid.",
            "danger",
        )
    if status in BLOCKED:
        return BillingNotice(
            name,
            status,
            f"The subscription is {status.replace('_', ' ')}: only billing is available until it is renewed.",
            "danger",
        )
    if status == "incomplete":
        return BillingNotice(
            name, status, "The first payment is not complete yet: finish it in the billing portal.", "warning"
        )
    if ending and billing.current_period_end is not None:
        return BillingNotice(
            name, status, f"The subscription ends on {day(billing.current_period_end)}.", "warning"
        )
    return BillingNotice(name, status, None)


def usage_meters(page: TenantPage) -> UsageMeters:
    """The app's usage meters (seats and storage), as the billing API reads them."""
    meters: UsageMeters = page.request.app.state.usage_meters
    return meters


async def billing_notice(page: TenantPage) -> BillingNotice:
    """The workspace's plan and what its subscription's state means now (trial, past due, read-only)."""
    billing = await billing_service.billing_state(page.session, page.tenant, usage_meters(page))
    return notice_of(billing)
