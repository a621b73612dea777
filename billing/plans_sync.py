"""`platformctl billing sync-plans`: create or update Stripe products and prices to match the catalogue.

Idempotent: ids already recorded in `billing_plan` are reused while their price still matches the
catalogue (amount, currency, interval), so a second run changes nothing. A changed amount creates a new
price (Stripe prices are immutable) and archives the old one; subscriptions keep their old price until
changed in the portal. Free plans are recorded without touching Stripe.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import stripe
from sqlalchemy.orm import Session

from billing import repository
from billing.catalog import Catalog, Interval, PlanSpec
from billing.models import BillingPlan
from platform_core.kernel.db.base import utcnow

_STRIPE_INTERVAL = {Interval.MONTHLY: "month", Interval.YEARLY: "year"}
_COLUMN = {Interval.MONTHLY: "stripe_price_monthly", Interval.YEARLY: "stripe_price_yearly"}


@dataclass
class PlanSync:
    """What syncing one plan did."""

    key: str
    changes: list[str] = field(default_factory=list)


def sync_plans(session: Session, client: stripe.StripeClient, catalog: Catalog) -> list[PlanSync]:
    """Bring Stripe and `billing_plan` in line with the catalogue (the caller commits)."""
    return [_sync_plan(session, client, catalog, plan) for plan in catalog.plans]


def _sync_plan(session: Session, client: stripe.StripeClient, catalog: Catalog, plan: PlanSpec) -> PlanSync:
    result = PlanSync(plan.key)
    row = repository.get_plan(session, plan.key, lock=True)
    if row is None:
        row = BillingPlan(key=plan.key, name=plan.name, catalog_version=catalog.version)
        repository.add_plan(session, row)
        result.changes.append("recorded")
    if (row.name, row.catalog_version) != (plan.name, catalog.version):
        row.name, row.catalog_version = plan.name, catalog.version
        result.changes.append("renamed or re-versioned")
    if plan.is_free:
        return result
    if row.stripe_product_id is not None and not _exists(client, row.stripe_product_id):
        row.stripe_product_id = row.stripe_price_monthly = row.stripe_price_yearly = None  # gone from Stripe
    if row.stripe_product_id is None:
        product = client.v1.products.create(
            params={"name": plan.name, "metadata": {"plan_key": plan.key}},
            options={"idempotency_key": f"platform-plan-{plan.key}-product"},
        )
        row.stripe_product_id = product.id
        result.changes.append(f"product {product.id} created")
    for interval in (Interval.MONTHLY, Interval.YEARLY):
        amount = plan.prices.get(interval)
        current = getattr(row, _COLUMN[interval])
        if amount is None:
            if current is not None:
                _archive(client, current)
                setattr(row, _COLUMN[interval], None)
                result.changes.append(f"{interval.value} price archived")
            continue
        if current is not None and _matches(client, current, amount, catalog.currency, interval):
            continue
        if current is not None:
            _archive(client, current)
        price = client.v1.prices.create(
            params={
                "product": row.stripe_product_id,
                "unit_amount": amount,
                "currency": catalog.currency,
                "recurring": {"interval": _STRIPE_INTERVAL[interval]},
                "metadata": {"plan_key": plan.key, "interval": interval.value},
            },
            options={
                "idempotency_key": f"platform-price-{plan.key}-{interval.value}-{amount}-{catalog.currency}"
            },
        )
        setattr(row, _COLUMN[interval], price.id)
        result.changes.append(f"{interval.value} price {price.id} created")
    if result.changes:
        row.synced_at = utcnow()
    return result


def _matches(
    client: stripe.StripeClient, price_id: str, amount: int, currency: str, interval: Interval
) -> bool:
    try:
        price = client.v1.prices.retrieve(price_id).to_dict()
    except stripe.InvalidRequestError:
        return False
    recurring = price.get("recurring") or {}
    return (
        bool(price.get("active"))
        and price.get("unit_amount") == amount
        and price.get("currency") == currency
        and recurring.get("interval") == _STRIPE_INTERVAL[interval]
    )


def _exists(client: stripe.StripeClient, product_id: str) -> bool:
    try:
        client.v1.products.retrieve(product_id)
    except stripe.InvalidRequestError:
        return False
    return True


def _archive(client: stripe.StripeClient, price_id: str) -> None:
    with contextlib.suppress(stripe.InvalidRequestError):  # already gone: nothing left to archive
        client.v1.prices.update(price_id, params={"active": False})
