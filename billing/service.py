"""The tenant's billing: what the API shows, the Stripe customer, checkout and the customer portal."""

from __future__ import annotations

import uuid

import anyio
import stripe
from psycopg.errors import LockNotAvailable
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from stripe.params.checkout import SessionCreateParams

from billing import repository
from billing.catalog import Interval, PlanSpec, get_catalog
from billing.checkouts import settle_checkout
from billing.exceptions import AlreadySubscribed, BillingBusy, BillingUnavailable, UnknownPlan
from billing.models import BillingAccount
from billing.schemas import (
    BillingRead,
    OperatorBillingRead,
    PlanRead,
    StripeEventRead,
    WaitingEventPage,
    WaitingEventRead,
)
from billing.settings import get_billing_settings
from billing.state import plan_of, state_of
from billing.stripe_client import stripe_errors
from billing.subscriptions import LIVE, fetch_subscription
from billing.usage import UsageMeters
from billing.webhooks import PROCESS_TASK
from platform_core.kernel.context import TenantContext
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.paging import PageParams
from platform_core.kernel.settings import Settings


def plan_read(plan: PlanSpec) -> PlanRead:
    """Render a catalogue plan."""
    ent = plan.entitlements
    return PlanRead(
        key=plan.key,
        name=plan.name,
        trial_days=plan.trial_days,
        per_seat=plan.per_seat,
        prices={interval.value: amount for interval, amount in plan.prices.items()},
        seats=ent.seats,
        storage_bytes=ent.storage_bytes,
        features=sorted(f.value for f in ent.features),
        api_rate_limit=ent.api_rate_limit,
    )


def _no_account(tenant_id: uuid.UUID) -> BillingAccount:
    """What a tenant that never had a billing account shows (not added to any session)."""
    return BillingAccount(
        tenant_id=tenant_id, plan_key=get_catalog().default_plan, status="none", cancel_at_period_end=False
    )


async def billing_state(session: AsyncSession, tenant: TenantContext, meters: UsageMeters) -> BillingRead:
    """The tenant's plan and subscription (from public.billing_account) and its usage."""
    account = await repository.get_account_async(session, tenant.id) or _no_account(tenant.id)
    # The plan from the account just read, not from the process's cached state (refreshed by NOTIFY a
    # moment after a change): the answer agrees with itself even in that moment.
    plan = plan_of(state_of(account))
    return BillingRead(
        plan=plan_read(plan),
        status=account.status,
        interval=account.interval,
        current_period_end=account.current_period_end,
        cancel_at_period_end=account.cancel_at_period_end,
        trial_end=account.trial_end,
        past_due_since=account.past_due_since,
        seats_used=await meters.seats_used(session),
        seats_allowed=plan.entitlements.seats,
        storage_used_bytes=await meters.storage_used(session),
        storage_allowed_bytes=plan.entitlements.storage_bytes,
    )


async def _account_for_update(session: AsyncSession, tenant: TenantContext) -> BillingAccount:
    """The tenant's billing account, locked; created on the default plan when missing.

    Another checkout of the tenant holds the lock while it talks to Stripe: wait for it at most
    BILLING_LOCK_TIMEOUT_SECONDS (for the rest of this transaction), then answer 503 billing_busy.
    """
    timeout_ms = round(get_billing_settings().billing_lock_timeout_seconds * 1000)
    try:
        return await repository.lock_account(
            session, tenant.id, default_plan=get_catalog().default_plan, lock_timeout_ms=timeout_ms
        )
    except OperationalError as exc:
        if isinstance(exc.orig, LockNotAvailable):
            raise BillingBusy from exc
        raise


async def ensure_customer(
    session: AsyncSession, client: stripe.StripeClient, tenant: TenantContext, email: str
) -> str:
    """The tenant's Stripe customer, created once (idempotency key and tenant id in metadata)."""
    account = await _account_for_update(session, tenant)
    if account.stripe_customer_id:
        return account.stripe_customer_id
    with stripe_errors():
        customer = await anyio.to_thread.run_sync(
            lambda: client.v1.customers.create(
                params={
                    "name": tenant.name or tenant.slug,
                    "email": email,
                    "metadata": {"tenant_id": str(tenant.id)},
                },
                options={"idempotency_key": f"platform-tenant-{tenant.id}-customer"},
            )
        )
    account.stripe_customer_id = customer.id
    return customer.id


async def start_checkout(
    session: AsyncSession,
    client: stripe.StripeClient,
    settings: Settings,
    tenant: TenantContext,
    email: str,
    *,
    plan_key: str,
    interval: Interval,
    meters: UsageMeters,
) -> str:
    """A Stripe Checkout URL for subscribing the tenant to a paid plan."""
    try:
        plan = get_catalog().plan(plan_key)
    except KeyError as exc:
        raise UnknownPlan(f"No plan {plan_key!r}.", details={"plan": plan_key}) from exc
    if plan.is_free or interval not in plan.prices:
        raise UnknownPlan(
            f"The {plan.name} plan cannot be bought {interval.value}.", details={"plan": plan_key}
        )
    synced = await repository.get_plan_async(session, plan.key)
    price = getattr(synced, f"stripe_price_{interval.value}", None) if synced else None
    if not price:
        raise BillingUnavailable("The plans are not synced to Stripe yet (platformctl billing sync-plans).")
    account = await _account_for_update(session, tenant)
    if account.status in LIVE:
        raise AlreadySubscribed(details={"status": account.status, "plan": account.plan_key})
    previous = account.checkout_session_id
    if previous:
        with stripe_errors():
            live = await anyio.to_thread.run_sync(_settle_previous_checkout, client, previous)
        if live is not None:  # paid moments ago; its webhook has not been processed yet
            raise AlreadySubscribed(details={"status": live, "plan": account.plan_key})
    customer = await ensure_customer(session, client, tenant, email)
    quantity = await meters.seats_used(session) if plan.per_seat else 1
    params: SessionCreateParams = {
        "mode": "subscription",
        "customer": customer,
        "client_reference_id": str(tenant.id),
        "metadata": {"tenant_id": str(tenant.id), "plan_key": plan.key},
        "line_items": [{"price": price, "quantity": max(quantity, 1)}],
        "success_url": settings.tenant_url(tenant.slug, "/settings/billing?checkout=success"),
        "cancel_url": settings.tenant_url(tenant.slug, "/settings/billing?checkout=cancel"),
    }
    if plan.trial_days:
        params["subscription_data"] = {"trial_period_days": plan.trial_days}
    with stripe_errors():
        checkout = await anyio.to_thread.run_sync(lambda: client.v1.checkout.sessions.create(params=params))
    account.checkout_session_id = checkout.id
    return str(checkout.url)


def _settle_previous_checkout(client: stripe.StripeClient, session_id: str) -> str | None:
    """Make sure the tenant's previous checkout cannot lead to a second subscription.

    An open session is expired (only the newest can be paid); a completed one whose subscription is
    live returns that status, so the caller refuses a second checkout until the webhook has made the
    account show it. Called under the account's row lock, so two checkouts at once are serialised.
    """
    status, previous = settle_checkout(client, session_id)
    made = previous.get("subscription") if status == "complete" else None
    subscription_id = made.get("id") if isinstance(made, dict) else made
    if not subscription_id:
        return None
    subscription = fetch_subscription(client, str(subscription_id))
    live = (subscription or {}).get("status")
    return str(live) if live in LIVE else None


async def open_portal(
    session: AsyncSession, client: stripe.StripeClient, settings: Settings, tenant: TenantContext, email: str
) -> str:
    """A Stripe Customer Portal URL where the tenant manages its subscription and payment methods."""
    customer = await ensure_customer(session, client, tenant, email)
    return_url = settings.tenant_url(tenant.slug, "/settings/billing")
    with stripe_errors():
        portal = await anyio.to_thread.run_sync(
            lambda: client.v1.billing_portal.sessions.create(
                params={"customer": customer, "return_url": return_url}
            )
        )
    return str(portal.url)


async def operator_view(
    session: AsyncSession, tenant_id: uuid.UUID, *, events: int = 50
) -> OperatorBillingRead:
    """A tenant's billing account and its latest Stripe events, for the operator API."""
    account = await repository.get_account_async(session, tenant_id) or _no_account(tenant_id)
    rows = await repository.latest_events(session, tenant_id, limit=events)
    return OperatorBillingRead(
        plan_key=account.plan_key,
        status=account.status,
        stripe_customer_id=account.stripe_customer_id,
        stripe_subscription_id=account.stripe_subscription_id,
        interval=account.interval,
        quantity=account.quantity,
        current_period_end=account.current_period_end,
        cancel_at_period_end=account.cancel_at_period_end,
        past_due_since=account.past_due_since,
        synced_at=account.synced_at,
        events=[StripeEventRead.model_validate(row, from_attributes=True) for row in rows],
    )


# Events that wait: retried after a failure, or parked after BILLING_EVENT_MAX_ATTEMPTS.
WAITING_STATUSES = ("parked", "failed")


async def list_waiting_events(
    session: AsyncSession, *, statuses: tuple[str, ...] = WAITING_STATUSES, paging: PageParams
) -> WaitingEventPage:
    """One page of the events not processed yet in `statuses` (parked, failed), oldest first."""
    rows, total = await repository.list_events_page(session, statuses=statuses, paging=paging)
    items = [WaitingEventRead.model_validate(row, from_attributes=True) for row in rows]
    return WaitingEventPage.of(items, total, paging)


def replay_events(
    session: Session, *, include_failed: bool = False, event_ids: list[str] | None = None
) -> list[str]:
    """Queue parked (and, with `include_failed`, failed) events for processing again, in the caller's
    transaction: each is marked pending with no attempt counted and its task written to the outbox.
    With `event_ids`, only those of them that wait; returns the ids queued."""
    statuses = ["parked", "failed"] if include_failed else ["parked"]
    ids = repository.events_to_replay(session, statuses=statuses, event_ids=event_ids)
    if ids:
        repository.requeue_events(session, event_ids=ids)
    for one in ids:
        enqueue(session, PROCESS_TASK, event_id=one)
    return ids
