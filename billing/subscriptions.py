"""Bring a tenant's billing account in line with what Stripe says about its subscription.

Events can arrive late, twice or out of order, so their payloads are never trusted for state: the
subscription is fetched from Stripe and written under a per-subscription lock. Period fields are read
from the subscription item (where the current Stripe API puts them), falling back to the subscription.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.orm import Session

from billing import repository
from billing.catalog import get_catalog
from billing.models import BillingAccount
from platform_core.kernel.db.base import utcnow

logger = logging.getLogger("platform.billing")
LIVE = frozenset({"trialing", "active", "past_due", "unpaid", "incomplete", "paused"})


def _when(epoch: Any) -> datetime | None:
    return datetime.fromtimestamp(int(epoch), UTC) if epoch else None


def plan_for_price(session: Session, price_id: str | None) -> tuple[str, str | None]:
    """The catalogue plan key and interval a Stripe price (or legacy plan) id belongs to."""
    if price_id:
        row = repository.find_plan_by_price(session, price_id)
        if row is not None:
            return row.key, "monthly" if row.stripe_price_monthly == price_id else "yearly"
        logger.warning("Stripe price %s is not in the synced catalogue", price_id)
    return get_catalog().default_plan, None


def first_item(subscription: dict[str, Any]) -> dict[str, Any]:
    """The subscription's first item (where the current API keeps price, quantity and period)."""
    items = (subscription.get("items") or {}).get("data") or []
    return items[0] if items else {}


def _price_id(item: dict[str, Any]) -> str | None:
    price = item.get("price") or item.get("plan") or {}
    return price.get("id") if isinstance(price, dict) else price


def fetch_subscription(client: stripe.StripeClient, subscription_id: str) -> dict[str, Any] | None:
    """The subscription as Stripe has it now; None when Stripe no longer knows it."""
    try:
        return client.v1.subscriptions.retrieve(subscription_id).to_dict()
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


def apply_subscription(
    session: Session, account: BillingAccount, subscription: dict[str, Any], *, now: datetime | None = None
) -> bool:
    """Write a fetched subscription into the account; False when it is a stale, superseded one."""
    now = now or utcnow()
    status = str(subscription.get("status") or "none")
    current = account.stripe_subscription_id
    if current and current != subscription["id"]:
        if status not in LIVE:
            return False  # an old subscription's late news must not overwrite the live one
        if account.status in LIVE:
            logger.error(
                "tenant %s has two live subscriptions: %s replaces %s, which Stripe still bills; "
                "cancel one in the dashboard",
                account.tenant_id,
                subscription["id"],
                current,
            )
    item = first_item(subscription)
    plan_key, interval = plan_for_price(session, _price_id(item))
    account.stripe_subscription_id = subscription["id"]
    account.status = status
    account.plan_key = plan_key
    account.interval = interval
    account.quantity = int(item.get("quantity") or 1) if item else None
    account.current_period_end = _when(
        item.get("current_period_end") or subscription.get("current_period_end")
    )
    account.cancel_at_period_end = bool(subscription.get("cancel_at_period_end"))
    account.trial_end = _when(subscription.get("trial_end"))
    if status == "past_due":
        account.past_due_since = account.past_due_since or now
    else:
        account.past_due_since = None
    account.synced_at = now
    return True


def clear_subscription(account: BillingAccount, *, forget_customer: bool = False) -> None:
    """Back to the default plan with no subscription (the customer was deleted in Stripe)."""
    account.stripe_subscription_id = None
    account.status = "none"
    account.plan_key = get_catalog().default_plan
    account.interval = None
    account.quantity = None
    account.current_period_end = None
    account.cancel_at_period_end = False
    account.trial_end = None
    account.past_due_since = None
    account.synced_at = utcnow()
    if forget_customer:
        account.stripe_customer_id = None


def resync_account(session: Session, client: stripe.StripeClient, account: BillingAccount) -> bool:
    """Fetch the account's subscription from Stripe and store it; True when something changed.

    Without a recorded subscription, the customer's newest live subscription is adopted (a webhook
    that never arrived). Used by the daily reconciliation.
    """
    before = (account.status, account.plan_key, account.stripe_subscription_id, account.current_period_end)
    subscription_id = account.stripe_subscription_id
    if subscription_id is None and account.stripe_customer_id:
        listed = client.v1.subscriptions.list(
            params={"customer": account.stripe_customer_id, "status": "all"}
        )
        live = [s.to_dict() for s in listed.data if s.status in LIVE]
        if live:
            subscription_id = max(live, key=lambda s: s.get("created") or 0)["id"]
    if subscription_id is None:
        return False
    repository.lock_subscription(session, subscription_id)
    fetched = fetch_subscription(client, subscription_id)
    if fetched is None:
        clear_subscription(account)
    else:
        apply_subscription(session, account, fetched)
    return before != (
        account.status,
        account.plan_key,
        account.stripe_subscription_id,
        account.current_period_end,
    )
