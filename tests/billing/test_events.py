"""Processing Stripe events against localstripe: the subscription is fetched, never taken from the event."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace

import psycopg
import pytest
import stripe
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert

from billing import subscriptions
from billing.exceptions import EventNotReady
from billing.models import BillingAccount, BillingPlan, StripeEvent
from billing.settings import BillingSettings
from billing.state import BillingState, BillingStates
from billing.stripe_client import make_client
from billing.tasks import queue_reconciliation as reconcile
from billing.tasks import record_failure
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import Notifications
from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.settings import to_libpq_url
from tenants.resolution import NOTIFY_CHANNEL
from tests.support.billing import apply_stripe_event, event_payload

CARD = "4242424242424242"


@pytest.fixture
def customer(stripe_client, tenant_service, sync_db):
    """A committed tenant with a Stripe customer (a working card) and the pro plan synced to Stripe."""
    tenant = tenant_service.create(
        slug=f"pay-{uuid.uuid4().hex[:8]}",
        name="Payer",
        owner_email="payer@example.com",
        owner_password="payer passphrase 1",
    )
    product = stripe_client.v1.products.create(params={"name": "Pro"})
    plan = stripe_client.v1.plans.create(
        params={
            "id": f"price_{uuid.uuid4().hex[:12]}",
            "product": product.id,
            "amount": 2900,
            "currency": "usd",
            "interval": "month",
        }
    )
    token = stripe_client.v1.tokens.create(
        params={"card": {"number": CARD, "exp_month": 12, "exp_year": 2040, "cvc": "123"}}
    )
    cust = stripe_client.v1.customers.create(params={"email": "payer@example.com", "source": token.id})
    with sync_db.sync_session() as session, session.begin():
        values = {
            "name": "Pro",
            "catalog_version": 1,
            "stripe_product_id": product.id,
            "stripe_price_monthly": plan.id,
            "stripe_price_yearly": None,
        }
        session.execute(
            insert(BillingPlan)
            .values(key="pro", **values)
            .on_conflict_do_update(index_elements=["key"], set_=values)
        )
        session.add(
            BillingAccount(tenant_id=tenant.id, stripe_customer_id=cust.id, plan_key="free", status="none")
        )
    return SimpleNamespace(tenant=tenant, customer=cust.id, price=plan.id, client=stripe_client)


def deliver(
    sync_db, settings, client, event_type: str, obj: dict
) -> tuple[uuid.UUID | None, BillingAccount | None]:
    """Store an event as the webhook would, apply it in one transaction, return the account after."""
    tenant_id = apply_stripe_event(sync_db, settings, client, event_payload(event_type, obj))
    with sync_db.sync_session() as session:
        account = session.get(BillingAccount, tenant_id) if tenant_id else None
    return tenant_id, account


def subscription_event(sync_db, settings, c, event_type: str, subscription_id: str, **fields: object):
    """Deliver a subscription event of customer `c` (its payload carries ids only, plus `fields`)."""
    obj = {"object": "subscription", "id": subscription_id, "customer": c.customer, **fields}
    return deliver(sync_db, settings, c.client, event_type, obj)


def subscribe(c, quantity: int = 1) -> dict:
    return c.client.v1.subscriptions.create(
        params={"customer": c.customer, "items": [{"plan": c.price, "quantity": quantity}]}
    ).to_dict()


def test_a_new_subscription_grants_its_plan(customer, sync_db, settings):
    sub = subscribe(customer)
    tenant_id, account = subscription_event(
        sync_db, settings, customer, "customer.subscription.created", sub["id"]
    )
    assert tenant_id == customer.tenant.id
    assert (account.status, account.plan_key, account.interval) == ("active", "pro", "monthly")
    assert account.stripe_subscription_id == sub["id"]
    assert account.current_period_end is not None
    assert account.cancel_at_period_end is False


def test_cancel_at_period_end_keeps_access_then_cancellation_ends_it(customer, sync_db, settings):
    sub = subscribe(customer)
    customer.client.v1.subscriptions.update(sub["id"], params={"cancel_at_period_end": True})
    _, account = subscription_event(sync_db, settings, customer, "customer.subscription.updated", sub["id"])
    assert (account.status, account.cancel_at_period_end) == ("active", True)
    customer.client.v1.subscriptions.cancel(sub["id"])
    _, account = subscription_event(sync_db, settings, customer, "customer.subscription.deleted", sub["id"])
    assert account.status == "canceled"


def test_events_out_of_order_cannot_roll_state_back(customer, sync_db, settings):
    sub = subscribe(customer)
    customer.client.v1.subscriptions.cancel(sub["id"])
    subscription_event(sync_db, settings, customer, "customer.subscription.deleted", sub["id"])
    # The older "created" event arrives last, still describing an active subscription: Stripe says otherwise.
    _, account = subscription_event(
        sync_db, settings, customer, "customer.subscription.created", sub["id"], status="active"
    )
    assert account.status == "canceled"
    renewed = subscribe(customer)
    subscription_event(sync_db, settings, customer, "customer.subscription.created", renewed["id"])
    # Late news of the old, dead subscription does not overwrite the live one.
    _, account = subscription_event(sync_db, settings, customer, "customer.subscription.updated", sub["id"])
    assert (account.stripe_subscription_id, account.status) == (renewed["id"], "active")


def test_an_invoice_event_finds_its_subscription_and_a_failed_payment_emails_the_owners(
    customer, sync_db, settings
):
    sub = subscribe(customer)
    invoice = {
        "object": "invoice",
        "id": "in_1",
        "customer": customer.customer,
        "subscription": sub["id"],
        "amount_due": 2900,
        "currency": "usd",
    }
    _, account = deliver(sync_db, settings, customer.client, "invoice.payment_failed", invoice)
    assert account.status == "active"  # what Stripe says of the subscription, not what the event implies
    with sync_db.sync_session() as session:
        emails = [
            k
            for k in session.execute(
                select(OutboxMessage.kwargs).where(OutboxMessage.tenant_id == customer.tenant.id)
            ).scalars()
            if k.get("template") == "payment_failed"
        ]
    assert len(emails) == 1
    assert emails[0]["to"] == ["payer@example.com"]
    assert emails[0]["context"]["amount"] == "29.00 USD"


def test_customer_deleted_returns_the_tenant_to_the_free_plan(customer, sync_db, settings):
    sub = subscribe(customer)
    subscription_event(sync_db, settings, customer, "customer.subscription.created", sub["id"])
    _, account = deliver(
        sync_db,
        settings,
        customer.client,
        "customer.deleted",
        {"object": "customer", "id": customer.customer},
    )
    assert (account.status, account.plan_key, account.stripe_customer_id) == ("none", "free", None)


def test_an_event_for_an_unknown_customer_waits(stripe_client, sync_db, settings):
    with pytest.raises(EventNotReady):
        deliver(
            sync_db,
            settings,
            stripe_client,
            "customer.subscription.updated",
            {"object": "subscription", "id": "sub_x", "customer": "cus_nobody"},
        )


def test_a_stripe_outage_is_an_error_to_retry_and_repeated_failures_park_the_event(
    customer, sync_db, settings
):
    sub = subscribe(customer)
    dead = make_client(BillingSettings(stripe_api_key="sk_test_x", stripe_api_base="http://127.0.0.1:9"))
    with pytest.raises(stripe.APIConnectionError):
        deliver(
            sync_db,
            settings,
            dead,
            "customer.subscription.updated",
            {"object": "subscription", "id": sub["id"], "customer": customer.customer},
        )
    event_id = "evt_outage"
    with sync_db.sync_session() as session, session.begin():
        session.merge(
            StripeEvent(
                id=event_id,
                type="customer.subscription.updated",
                created=datetime.now(UTC),
                payload={},
                status="pending",
                attempts=0,
            )
        )
    ctx = SimpleNamespace(db=sync_db)
    outcomes = [record_failure(ctx, event_id, stripe.APIConnectionError("down")) for _ in range(8)]
    assert outcomes == [False] * 7 + [True]
    with sync_db.sync_session() as session:
        row = session.get(StripeEvent, event_id)
    assert (row.status, row.attempts) == ("parked", 8)
    assert "down" in row.last_error


def test_past_due_is_dated_once_and_cleared_when_paid(sync_db):
    account = BillingAccount(tenant_id=uuid.uuid4(), plan_key="pro", status="active")
    first = datetime(2026, 1, 1, tzinfo=UTC)
    sub = {
        "id": "sub_1",
        "status": "past_due",
        "items": {"data": [{"quantity": 1, "current_period_end": 1_800_000_000}]},
    }
    with sync_db.sync_session() as session:
        subscriptions.apply_subscription(session, account, sub, now=first)
        subscriptions.apply_subscription(session, account, sub, now=datetime(2026, 1, 5, tzinfo=UTC))
        assert account.past_due_since == first
        assert account.current_period_end == datetime.fromtimestamp(1_800_000_000, UTC)
        subscriptions.apply_subscription(session, account, {**sub, "status": "active"}, now=first)
        assert account.past_due_since is None


def test_reconciliation_adopts_a_subscription_whose_webhook_never_came(customer, sync_db):
    sub = subscribe(customer)
    with sync_db.sync_session() as session, session.begin():
        account = session.get(BillingAccount, customer.tenant.id, with_for_update=True)
        assert subscriptions.resync_account(session, customer.client, account) is True
        assert (account.stripe_subscription_id, account.status, account.plan_key) == (
            sub["id"],
            "active",
            "pro",
        )
    with sync_db.sync_session() as session, session.begin():
        account = session.get(BillingAccount, customer.tenant.id, with_for_update=True)
        assert subscriptions.resync_account(session, customer.client, account) is False  # nothing to correct
    customer.client.v1.subscriptions.cancel(sub["id"])
    with sync_db.sync_session() as session, session.begin():
        account = session.get(BillingAccount, customer.tenant.id, with_for_update=True)
        assert subscriptions.resync_account(session, customer.client, account) is True
        assert account.status == "canceled"


def test_reconciliation_fans_out_one_task_per_customer(customer, sync_db):
    with sync_db.sync_session() as session, session.begin():
        queued = reconcile(session)
        tasks = (
            session.execute(
                select(OutboxMessage.kwargs).where(OutboxMessage.task_name == "billing.sync_subscription")
            )
            .scalars()
            .all()
        )
        session.rollback()
    assert queued >= 1
    assert {"tenant_id": str(customer.tenant.id)} in tasks


def test_a_second_live_subscription_is_adopted_and_reported(customer, sync_db, settings, caplog):
    first = subscribe(customer)
    subscription_event(sync_db, settings, customer, "customer.subscription.created", first["id"])
    second = subscribe(customer)  # e.g. made in the dashboard while the first still runs
    with caplog.at_level(logging.ERROR, logger="platform.billing"):
        _, account = subscription_event(
            sync_db, settings, customer, "customer.subscription.created", second["id"]
        )
    assert (account.stripe_subscription_id, account.status) == (second["id"], "active")
    assert f"two live subscriptions: {second['id']} replaces {first['id']}" in caplog.text


def tenant_notifications(settings, action: Callable[[], object]) -> list[str]:
    """The `tenant_changed` payloads sent by what `action` commits. A marker notified after it ends
    the wait: PostgreSQL delivers notifications in commit order."""
    marker = f"marker-{uuid.uuid4().hex}"
    with psycopg.connect(to_libpq_url(settings.database_url), autocommit=True) as conn:
        conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
        action()
        conn.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, marker))
        payloads: list[str] = []
        for notice in conn.notifies(timeout=10):
            if notice.payload == marker:
                return payloads
            payloads.append(notice.payload)
    raise AssertionError("the marker notification never arrived")


def test_only_an_event_that_changes_the_cached_billing_state_notifies(customer, sync_db, settings):
    sub = subscribe(customer)
    tenant = str(customer.tenant.id)

    def event(event_type: str) -> Callable[[], object]:
        return lambda: subscription_event(sync_db, settings, customer, event_type, sub["id"])

    assert tenant in tenant_notifications(settings, event("customer.subscription.created"))  # free -> pro
    assert tenant not in tenant_notifications(settings, event("customer.subscription.updated"))  # no change
    customer.client.v1.subscriptions.update(sub["id"], params={"cancel_at_period_end": True})
    # Cancelling at the period's end changes the account, but nothing the billing state cache holds.
    assert tenant not in tenant_notifications(settings, event("customer.subscription.updated"))
    customer.client.v1.subscriptions.cancel(sub["id"])
    assert tenant in tenant_notifications(settings, event("customer.subscription.deleted"))  # access ends


async def test_a_processed_event_drops_the_tenants_cached_state_in_other_processes(
    customer, sync_db, settings, tenant_a
):
    states = BillingStates(ttl=30)  # an API process's cache: only the notification reaches it
    ready, heard = asyncio.Event(), asyncio.Event()
    notifications = Notifications(settings)
    states.subscribe(notifications)
    notifications.subscribe(
        NOTIFY_CHANNEL, lambda tenant_id: heard.set() if tenant_id == str(customer.tenant.id) else None
    )  # called after the cache's own callback
    listener = asyncio.create_task(notifications.listen(ready=ready))
    database = Database(settings, pool_size=1)
    try:
        await asyncio.wait_for(ready.wait(), 10)
        async with database.session() as session:
            assert await states.get(session, customer.tenant.id) == BillingState("free", "none", None)
            assert (await states.get(session, tenant_a.id)).status == "active"
            sub = subscribe(customer)
            await asyncio.to_thread(
                subscription_event, sync_db, settings, customer, "customer.subscription.created", sub["id"]
            )
            await asyncio.wait_for(heard.wait(), 10)
            assert states.cached(customer.tenant.id) is None
            assert await states.get(session, customer.tenant.id) == BillingState("pro", "active", None)
            assert states.cached(tenant_a.id) is not None  # another tenant's state is kept
            assert states.lookups == 3
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
        await database.dispose()
