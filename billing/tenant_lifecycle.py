"""What a tenant's deletion, restoration and purge do to its Stripe subscription.

Deleting a tenant starts a grace period in which an operator may restore it, so the subscription is
set to cancel at the end of the period already paid for: no further charge, and nothing paid for is
taken away if the tenant comes back. Restoring undoes that, but only when the deletion set it (a
cancellation the customer chose stays). Purging cancels what is still live at once.
"""

from __future__ import annotations

import logging
from enum import StrEnum
from typing import Any

import stripe
from sqlalchemy.orm import Session

from billing.models import BillingAccount
from billing.subscriptions import LIVE, apply_subscription, fetch_subscription, lock_subscription

logger = logging.getLogger("platform.billing")
REASON_KEY = "platform_cancel_reason"
DELETED_REASON = "tenant_deleted"


class TenantChange(StrEnum):
    """The tenant lifecycle changes billing follows."""

    DELETED = "deleted"
    RESTORED = "restored"
    PURGED = "purged"


def follow_tenant(
    session: Session, client: stripe.StripeClient, account: BillingAccount, change: TenantChange, at: str
) -> str | None:
    """Bring the tenant's live subscription in line with `change` (made at `at`); say what was done."""
    subscription_id = account.stripe_subscription_id
    if not subscription_id:
        return None
    lock_subscription(session, subscription_id)
    current = fetch_subscription(client, subscription_id)
    if current is None or current.get("status") not in LIVE:
        return None
    key = f"platform-tenant-{change.value}-{subscription_id}-{at}"
    params: dict[str, Any] | None = None
    if change is TenantChange.DELETED and not current.get("cancel_at_period_end"):
        params = {"cancel_at_period_end": True, "metadata": {REASON_KEY: DELETED_REASON}}
    elif (
        change is TenantChange.RESTORED
        and current.get("cancel_at_period_end")
        and (current.get("metadata") or {}).get(REASON_KEY) == DELETED_REASON
    ):
        params = {"cancel_at_period_end": False, "metadata": {REASON_KEY: ""}}
    if params is not None:
        updated = client.v1.subscriptions.update(
            subscription_id, params=params, options={"idempotency_key": key}
        )
        apply_subscription(session, account, updated.to_dict())
        done = "cancels at period end" if params["cancel_at_period_end"] else "renews again"
    elif change is TenantChange.PURGED:
        canceled = client.v1.subscriptions.cancel(subscription_id)  # a DELETE: idempotent as it is
        apply_subscription(session, account, canceled.to_dict())
        done = "canceled"
    else:
        return None
    logger.info("tenant %s %s: subscription %s %s", account.tenant_id, change.value, subscription_id, done)
    return done
