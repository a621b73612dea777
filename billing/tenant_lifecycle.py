"""A tenant's Stripe subscription follows the tenant's lifecycle: deleting, restored, purged.

Deleting a tenant starts a grace period in which an operator may restore it, so the subscription is
set to cancel at the end of the period already paid for: no further charge, and nothing paid for is
taken away if the tenant comes back. Restoring undoes that, but only when the deletion set it (a
cancellation the customer chose stays). Purging cancels what is still live at once. A deleting or
purged tenant's open checkout is expired, so nobody can start paying for it.

The task acts on the tenant's status when it runs, not on the change that queued it: tasks can run
late, out of order or twice, and every change of status queues one more, so the last one to run
sees the last status.
"""

from __future__ import annotations

import logging
from typing import Any

import stripe
from sqlalchemy.orm import Session
from stripe.params import SubscriptionUpdateParams

from billing import repository
from billing.checkouts import settle_checkout
from billing.models import BillingAccount
from billing.subscriptions import LIVE, apply_subscription, fetch_subscription
from platform_core.kernel.context import TenantStatus

logger = logging.getLogger("platform.billing")
REASON_KEY = "platform_cancel_reason"
DELETED_REASON = "tenant_deleted"
KEEP = frozenset({TenantStatus.ACTIVE, TenantStatus.SUSPENDED, TenantStatus.PROVISIONING})


def follow_tenant(
    session: Session,
    client: stripe.StripeClient,
    account: BillingAccount,
    status: TenantStatus | None,
    at: str,
) -> str | None:
    """Bring the tenant's checkout and live subscription in line with its `status` (None: the tenant
    row is gone, as purged); say what was done. `at` makes the Stripe idempotency keys unique."""
    gone = status is None or status is TenantStatus.DELETED
    done: list[str] = []
    checkout = account.checkout_session_id if gone or status is TenantStatus.DELETING else None
    if checkout and settle_checkout(client, checkout)[0] == "open":
        done.append("open checkout expired")
    subscription_id = account.stripe_subscription_id
    if subscription_id:
        repository.lock_subscription(session, subscription_id)
        current = fetch_subscription(client, subscription_id)
        if current is not None and current.get("status") in LIVE:
            outcome = _follow_subscription(session, client, account, current, status, gone, at)
            if outcome:
                done.append(f"subscription {subscription_id} {outcome}")
    if not done:
        return None
    summary = "; ".join(done)
    logger.info("tenant %s is %s: %s", account.tenant_id, status or "gone", summary)
    return summary


def _follow_subscription(
    session: Session,
    client: stripe.StripeClient,
    account: BillingAccount,
    current: dict[str, Any],
    status: TenantStatus | None,
    gone: bool,
    at: str,
) -> str | None:
    subscription_id = current["id"]
    if gone:
        canceled = client.v1.subscriptions.cancel(subscription_id)  # a DELETE: idempotent as it is
        apply_subscription(session, account, canceled.to_dict())
        return "canceled"
    ours = (current.get("metadata") or {}).get(REASON_KEY) == DELETED_REASON
    params: SubscriptionUpdateParams | None = None
    if status is TenantStatus.DELETING and not current.get("cancel_at_period_end"):
        params = {"cancel_at_period_end": True, "metadata": {REASON_KEY: DELETED_REASON}}
    elif status in KEEP and current.get("cancel_at_period_end") and ours:
        params = {"cancel_at_period_end": False, "metadata": {REASON_KEY: ""}}
    if params is None:
        return None
    key = f"platform-tenant-{status}-{subscription_id}-{at}"
    updated = client.v1.subscriptions.update(subscription_id, params=params, options={"idempotency_key": key})
    apply_subscription(session, account, updated.to_dict())
    return "cancels at period end" if params["cancel_at_period_end"] else "renews again"
