"""Per-seat plans: the subscription's quantity follows the number of members."""

from __future__ import annotations

import logging

import stripe
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from billing import repository
from billing.catalog import get_catalog
from billing.models import BillingAccount
from billing.state import BILLING_STATES, GRANTING, plan_of
from billing.subscriptions import fetch_subscription, first_item
from platform_core.kernel.context import TenantContext
from platform_core.kernel.outbox import enqueue_async

logger = logging.getLogger("platform.billing")
SEATS_TASK = "billing.sync_seats"


async def members_changed(session: AsyncSession, tenant: TenantContext) -> None:
    """Queue a seat-quantity update (in this transaction) when the tenant pays per seat."""
    state = await BILLING_STATES.get(session, tenant.id)
    if state.status in GRANTING and plan_of(state).per_seat:
        await enqueue_async(session, SEATS_TASK, tenant_id=tenant.id)


def pays_per_seat(account: BillingAccount) -> bool:
    """Whether the account's live subscription is on a per-seat plan."""
    try:
        plan = get_catalog().plan(account.plan_key)
    except KeyError:
        return False
    return account.status in GRANTING and bool(account.stripe_subscription_id) and plan.per_seat


def sync_seats(
    session: Session, client: stripe.StripeClient, account: BillingAccount, *, run_id: str
) -> int | None:
    """Set the subscription's quantity to the member count; returns it (None: nothing to update).

    The idempotency key names the task run (`run_id`) and the quantity: a retry of the same run
    replays its request, while a later run always reaches Stripe, even for a quantity sent before
    (3 -> 4 -> 3 -> 4 within Stripe's 24 hours of idempotency).
    """
    if not account.stripe_subscription_id:
        return None
    members = repository.count_active_members(session, account.tenant_id)
    repository.lock_subscription(session, account.stripe_subscription_id)
    subscription = fetch_subscription(client, account.stripe_subscription_id)
    item = first_item(subscription or {})
    if not item or int(item.get("quantity") or 0) == max(members, 1):
        return None
    quantity = max(members, 1)
    client.v1.subscriptions.update(
        account.stripe_subscription_id,
        params={"items": [{"id": item["id"], "quantity": quantity}]},
        options={"idempotency_key": f"platform-seats-{account.stripe_subscription_id}-{run_id}-{quantity}"},
    )
    account.quantity = quantity
    logger.info("tenant %s now pays for %d seat(s)", account.tenant_id, quantity)
    return quantity
