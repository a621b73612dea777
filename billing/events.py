"""What each Stripe event does to a tenant's billing account (called by the billing.process_event task)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import stripe
from sqlalchemy.orm import Session

from billing import repository, subscriptions
from billing.exceptions import EventNotReady
from billing.models import BillingAccount, StripeEvent
from billing.state import state_of
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.events import RECORD_EVENT_TASK, SubscriptionData
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import Settings
from tenants.lifecycle import BILLING_FOLLOW_TASK
from workers.email.tasks import send_email_later

logger = logging.getLogger("platform.billing")
HANDLED = frozenset(
    {
        "checkout.session.completed",
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.trial_will_end",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.payment_failed",
        "invoice.payment_action_required",
        "customer.updated",
        "customer.deleted",
    }
)
PAYMENT_PROBLEMS = frozenset({"invoice.payment_failed", "invoice.payment_action_required"})
GONE = frozenset({TenantStatus.DELETING.value, TenantStatus.DELETED.value})


def _customer_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "customer":
        return obj.get("id")
    customer = obj.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _subscription_of(obj: dict[str, Any]) -> str | None:
    if obj.get("object") == "subscription":
        return obj.get("id")
    sub = obj.get("subscription")
    if sub is None:  # invoices of the current API name it under parent.subscription_details
        sub = ((obj.get("parent") or {}).get("subscription_details") or {}).get("subscription")
    return sub.get("id") if isinstance(sub, dict) else sub


def _account(session: Session, obj: dict[str, Any], event_type: str) -> BillingAccount | None:
    customer = _customer_of(obj)
    if customer:
        found = repository.get_account_by_customer(session, customer, lock=True)
        if found is not None:
            return found
    if event_type == "checkout.session.completed":
        reference = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("tenant_id")
        try:
            tenant_id = uuid.UUID(str(reference))
        except ValueError:
            return None
        account = repository.get_account(session, tenant_id, lock=True)
        if account is not None and customer and account.stripe_customer_id in (None, customer):
            account.stripe_customer_id = customer
            return account
    return None


def apply_event(
    session: Session, client: stripe.StripeClient, event: StripeEvent, settings: Settings
) -> uuid.UUID | None:
    """Apply one stored event; returns the tenant it concerned. EventNotReady means retry later."""
    if event.type not in HANDLED:
        return None
    obj = event.payload["data"]["object"]
    account = _account(session, obj, event.type)
    if account is None:
        raise EventNotReady(f"no tenant has Stripe customer {_customer_of(obj)!r} yet")
    cached = state_of(account)
    if event.type == "customer.deleted":
        subscriptions.clear_subscription(account, forget_customer=True)
    elif event.type != "customer.updated":
        subscription_id = _subscription_of(obj) or account.stripe_subscription_id
        if subscription_id:
            repository.lock_subscription(session, subscription_id)
            fetched = subscriptions.fetch_subscription(client, subscription_id)
            if fetched is None:
                if subscription_id == account.stripe_subscription_id:
                    subscriptions.clear_subscription(account)
            else:
                subscriptions.apply_subscription(session, account, fetched)
    if event.type in PAYMENT_PROBLEMS:
        email_owners_about_payment(session, settings, account, obj)
    tenant = repository.get_tenant(session, account.tenant_id)
    if (tenant is None or tenant.status in GONE) and account.status in subscriptions.LIVE:
        # A subscription live for a tenant being deleted (a checkout paid in a tab left open, say):
        # the lifecycle task cancels it as it does at deletion and purge.
        enqueue(session, BILLING_FOLLOW_TASK, tenant_id=account.tenant_id, change="event", at=event.id)
    if state_of(account) != cached:
        repository.notify_state_changed(session, account.tenant_id)  # only what API processes cache
        # The tenant's `subscription.updated` event, recorded in its schema by a task this commit sends.
        data = SubscriptionData(
            plan=account.plan_key,
            status=account.status,
            current_period_end=account.current_period_end,
            cancel_at_period_end=account.cancel_at_period_end,
        )
        enqueue(
            session,
            RECORD_EVENT_TASK,
            tenant_id=account.tenant_id,
            event_type="subscription.updated",
            data=data.model_dump(mode="json"),
        )
    return account.tenant_id


def email_owners_about_payment(
    session: Session, settings: Settings, account: BillingAccount, invoice: dict[str, Any]
) -> None:
    """Tell the tenant's owners that a payment failed or needs them (through the outbox)."""
    tenant = repository.get_tenant(session, account.tenant_id)
    if tenant is None or tenant.status == TenantStatus.DELETED:
        return  # a purged tenant has no schema, and nobody to tell
    owners = repository.owner_emails(session, tenant.id)
    if not owners:
        logger.warning("tenant %s has no owner to tell about a payment problem", tenant.slug)
        return
    amount = int(invoice.get("amount_due") or 0) / 100
    currency = str(invoice.get("currency") or "").upper()
    send_email_later(
        session,
        to=owners,
        template="payment_failed",
        context={
            "tenant_name": tenant.name,
            "amount": f"{amount:.2f} {currency}".strip(),
            "billing_url": settings.tenant_url(tenant.slug, "/settings/billing"),
        },
        tenant_id=tenant.id,
    )
