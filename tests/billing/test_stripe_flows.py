"""The billing flows written once, run against localstripe always and against Stripe test mode on request.

Set STRIPE_TEST_SECRET_KEY=sk_test_... to add the Stripe run (a test-mode key, never a live one; for
the portal, save the Customer Portal settings once in the test-mode dashboard). The flows: the plans
sync, checkout and portal sessions, and a subscription's life with Stripe's test payment methods
(`pm_card_visa`, `pm_card_chargeCustomerFail`), then the tenant's deletion, restoration and purge.
Stripe cannot deliver webhooks to a test run, so each step reads the events Stripe recorded (the
Events API: the objects a webhook carries) and applies them with the platform's own processing; the
webhook path itself is tested in test_lifecycle.py.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import stripe
from sqlalchemy import delete, select

from billing import events
from billing.catalog import get_catalog
from billing.models import BillingAccount, BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings, get_billing_settings
from billing.stripe_client import get_client, make_client
from billing.tenant_lifecycle import follow_tenant
from platform_core.access.cache import PRINCIPALS
from platform_core.app.main import create_app
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from tests.conftest import owner_client
from tests.support.billing import apply_stripe_event

TEST_MODE_KEY = os.environ.get("STRIPE_TEST_SECRET_KEY", "")
LOCAL_KEY = "sk_test_platform"


@dataclass(frozen=True)
class Backend:
    """Where the flows run: the SDK client, and where checkout and portal pages live."""

    client: stripe.StripeClient
    checkout_prefix: str
    portal_prefix: str


@pytest.fixture(
    params=[
        "localstripe",
        pytest.param(
            "stripe-test-mode",
            marks=pytest.mark.skipif(
                not TEST_MODE_KEY.startswith("sk_test_"),
                reason="opt-in: set STRIPE_TEST_SECRET_KEY=sk_test_... to run against Stripe test mode",
            ),
        ),
    ]
)
def backend(request, stripe_base, sync_db, monkeypatch) -> Iterator[Backend]:
    """The platform's settings on one backend, with the catalogue synced there."""
    if request.param == "localstripe":
        key, base, checkout, portal = LOCAL_KEY, stripe_base, stripe_base, stripe_base
    else:
        key, base = TEST_MODE_KEY, ""
        checkout, portal = "https://checkout.stripe.com/", "https://billing.stripe.com/"
    monkeypatch.setenv("STRIPE_API_KEY", key)
    monkeypatch.setenv("STRIPE_API_BASE", base)
    get_billing_settings.cache_clear()
    get_client.cache_clear()
    client = make_client(BillingSettings(stripe_api_key=key, stripe_api_base=base))
    with sync_db.sync_session() as session, session.begin():
        session.execute(delete(BillingPlan))
    with sync_db.sync_session() as session, session.begin():
        sync_plans(session, client, get_catalog())
    yield Backend(client, checkout, portal)
    get_billing_settings.cache_clear()
    get_client.cache_clear()


def _apply_events(sync_db: Database, settings: Settings, client: stripe.StripeClient, since: int) -> set[str]:
    """Store and apply, oldest first, the events Stripe recorded since `since` for our customers."""
    with sync_db.sync_session() as session:
        customers = set(
            session.execute(
                select(BillingAccount.stripe_customer_id).where(
                    BillingAccount.stripe_customer_id.is_not(None)
                )
            ).scalars()
        )
    found = client.v1.events.list(params={"created": {"gte": since}, "limit": 100}).data
    applied: set[str] = set()
    for event in sorted(found, key=lambda e: e.created):
        payload = event.to_dict()
        obj = payload["data"]["object"]
        customer = obj.get("id") if obj.get("object") == "customer" else obj.get("customer")
        if customer not in customers or event.type not in events.HANDLED:
            continue
        apply_stripe_event(sync_db, settings, client, payload)
        applied.add(event.type)
    return applied


def _until_status(
    sync_db: Database,
    settings: Settings,
    client: stripe.StripeClient,
    tenant_id: uuid.UUID,
    since: int,
    status: str,
) -> BillingAccount:
    deadline = time.monotonic() + 60
    while True:
        _apply_events(sync_db, settings, client, since)
        with sync_db.sync_session() as session:
            account = session.get(BillingAccount, tenant_id)
        if account is not None and account.status == status:
            return account
        if time.monotonic() > deadline:
            raise AssertionError(f"status never became {status}: {account and account.status}")
        time.sleep(2)


def _pay_with(client: stripe.StripeClient, customer: str, test_method: str) -> str:
    method = client.v1.payment_methods.attach(test_method, params={"customer": customer})
    client.v1.customers.update(customer, params={"invoice_settings": {"default_payment_method": method.id}})
    return method.id


async def test_plans_checkout_portal_and_a_subscriptions_life(backend, settings, sync_db, tenant_service):
    client = backend.client
    with sync_db.sync_session() as session, session.begin():
        again = sync_plans(session, client, get_catalog())
    assert [r.changes for r in again] == [[] for _ in again]

    database = Database(settings, pool_size=2)
    app = create_app(settings, db=database, access_log=False)
    PRINCIPALS.clear()
    tenant = tenant_service.create(slug=f"stripe-{uuid.uuid4().hex[:8]}", name="Stripe test mode")
    since = int(time.time()) - 5
    try:
        async with owner_client(app, settings, sync_db, tenant) as api:
            started = await api.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
            assert started.status_code == 200, started.text
            assert started.json()["url"].startswith(backend.checkout_prefix)
            portal = await api.post("/api/v1/billing/portal")
            assert portal.status_code == 200, portal.text
            assert portal.json()["url"].startswith(backend.portal_prefix)
    finally:
        await app.state.redis.aclose()
        await database.dispose()

    with sync_db.sync_session() as session:
        account = session.get_one(BillingAccount, tenant.id)
        price = session.get_one(BillingPlan, "pro").stripe_price_monthly
    customer = account.stripe_customer_id
    assert client.v1.customers.retrieve(customer).metadata["tenant_id"] == str(tenant.id)

    # What completing the checkout does: a trialing subscription paid by a card.
    _pay_with(client, customer, "pm_card_visa")
    subscription = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": price}], "trial_period_days": 14}
    ).id
    trial = _until_status(sync_db, settings, client, tenant.id, since, "trialing")
    assert (trial.plan_key, trial.trial_end is not None) == ("pro", True)

    client.v1.subscriptions.update(subscription, params={"trial_end": "now"})
    active = _until_status(sync_db, settings, client, tenant.id, since, "active")
    assert active.current_period_end is not None

    _pay_with(client, customer, "pm_card_chargeCustomerFail")
    client.v1.subscriptions.update(
        subscription, params={"billing_cycle_anchor": "now", "proration_behavior": "none"}
    )
    overdue = _until_status(sync_db, settings, client, tenant.id, since, "past_due")
    assert overdue.past_due_since is not None

    _pay_with(client, customer, "pm_card_visa")
    invoice = client.v1.subscriptions.retrieve(subscription).latest_invoice
    client.v1.invoices.pay(str(invoice))  # with the customer's new default method
    back = _until_status(sync_db, settings, client, tenant.id, since, "active")
    assert back.past_due_since is None

    # Deleting the tenant stops renewal (and its open checkout); restoring renews; purging cancels.
    at = datetime.now(UTC).isoformat()
    checkout = account.checkout_session_id
    assert client.v1.checkout.sessions.retrieve(checkout).status == "open"
    for status, expected in ((TenantStatus.DELETING, True), (TenantStatus.ACTIVE, False)):
        with sync_db.sync_session() as session, session.begin():
            account = session.get_one(BillingAccount, tenant.id, with_for_update=True)
            follow_tenant(session, client, account, status, at)
        assert client.v1.subscriptions.retrieve(subscription).cancel_at_period_end is expected
    assert client.v1.checkout.sessions.retrieve(checkout).status == "expired"
    with sync_db.sync_session() as session, session.begin():
        account = session.get_one(BillingAccount, tenant.id, with_for_update=True)
        follow_tenant(session, client, account, TenantStatus.DELETED, at)
    assert client.v1.subscriptions.retrieve(subscription).status == "canceled"
    gone: Any = _until_status(sync_db, settings, client, tenant.id, since, "canceled")
    assert gone.plan_key == "pro"  # the record keeps the plan; access follows the status


def test_a_seat_update_keeps_its_item_and_a_reused_idempotency_key_replays(backend, sync_db):
    client = backend.client
    with sync_db.sync_session() as session:
        price = session.get_one(BillingPlan, "business").stripe_price_monthly
    customer = client.v1.customers.create(params={"email": "seats@example.com"}).id
    _pay_with(client, customer, "pm_card_visa")
    subscription = client.v1.subscriptions.create(
        params={"customer": customer, "items": [{"price": price, "quantity": 1}]}
    ).id
    item = client.v1.subscriptions.retrieve(subscription).to_dict()["items"]["data"][0]["id"]
    run = uuid.uuid4().hex

    def seats(quantity: int, key: str) -> dict[str, Any]:
        params = {"items": [{"id": item, "quantity": quantity}]}
        updated = client.v1.subscriptions.update(
            subscription, params=params, options={"idempotency_key": key}
        )
        return updated.to_dict()["items"]["data"][0]

    try:
        assert seats(2, f"{run}-a")["id"] == item  # updated in place
        assert int(seats(3, f"{run}-b")["quantity"]) == 3
        assert int(seats(2, f"{run}-a")["quantity"]) == 2  # the first answer, replayed...
        now = client.v1.subscriptions.retrieve(subscription).to_dict()["items"]["data"][0]
        assert (now["id"], int(now["quantity"])) == (item, 3)  # ...and nothing done
        with pytest.raises(stripe.IdempotencyError):
            seats(5, f"{run}-a")
    finally:
        client.v1.subscriptions.cancel(subscription)
