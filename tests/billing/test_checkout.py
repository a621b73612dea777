"""Plans synced to Stripe, checkout and the portal, against localstripe behind the stand-in."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest
from sqlalchemy import select

from billing.catalog import get_catalog
from billing.models import BillingAccount, BillingPlan
from billing.plans_sync import sync_plans
from billing.stripe_client import get_client
from tests.conftest import owner_client
from tests.support.billing import apply_stripe_event, event_payload

PLAN_KEYS = {"free", "pro", "business"}


@pytest.fixture
def synced(stripe_client, sync_db):
    """The catalogue synced to this worker's Stripe (ids recorded in billing_plan, committed)."""
    with sync_db.sync_session() as session, session.begin():
        for row in session.execute(select(BillingPlan)).scalars():
            session.delete(row)
    with sync_db.sync_session() as session, session.begin():
        sync_plans(session, get_client(), get_catalog())
    return stripe_client


def test_sync_plans_creates_products_and_prices_once(synced, sync_db):
    with sync_db.sync_session() as session:
        rows = {r.key: r for r in session.execute(select(BillingPlan)).scalars()}
    assert set(rows) == PLAN_KEYS
    assert rows["free"].stripe_product_id is None
    pro = rows["pro"]
    price = synced.v1.prices.retrieve(pro.stripe_price_monthly).to_dict()
    assert (price["unit_amount"], price["currency"], price["recurring"]["interval"]) == (2900, "usd", "month")
    assert synced.v1.products.retrieve(pro.stripe_product_id).metadata["plan_key"] == "pro"
    with sync_db.sync_session() as session, session.begin():
        again = sync_plans(session, get_client(), get_catalog())
    assert [r.changes for r in again] == [[], [], []]


async def _tenant_client(live_app, settings, sync_db, tenant_service):
    tenant = tenant_service.create(slug=f"buy-{uuid.uuid4().hex[:8]}", name="Buyer")
    return tenant, owner_client(live_app, settings, sync_db, tenant)


async def test_checkout_then_payment_starts_the_plans_trial(
    synced, live_app, settings, sync_db, tenant_service, stripe_base
):
    tenant, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    async with client:
        started = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        assert started.status_code == 200, started.text
        url = started.json()["url"]
        assert url.startswith(stripe_base)
        with sync_db.sync_session() as session:
            account = session.get(BillingAccount, tenant.id)
        customer = synced.v1.customers.retrieve(account.stripe_customer_id)
        assert customer.metadata["tenant_id"] == str(tenant.id)
        # The customer pays on the checkout page; Stripe then tells the platform.
        async with httpx.AsyncClient() as browser:
            paid = await browser.post(f"{url}/complete", headers={"Authorization": "Bearer sk_test_platform"})
        completed = paid.json()
        assert completed["status"] == "complete"
        event = event_payload("checkout.session.completed", completed)
        assert apply_stripe_event(sync_db, settings, get_client(), event) == tenant.id
        live_app.state.tenant_resolver.invalidate()  # the NOTIFY would do this in a running process
        billing = (await client.get("/api/v1/billing")).json()
        assert (billing["plan"]["key"], billing["status"], billing["interval"]) == (
            "pro",
            "trialing",  # the Pro plan starts with its 14-day trial
            "monthly",
        )
        trial_days = (datetime.fromisoformat(billing["trial_end"]) - datetime.now(UTC)).days
        assert trial_days in (13, 14)
        again = await client.post("/api/v1/billing/checkout", json={"plan": "business", "interval": "yearly"})
        assert again.status_code == 409
        assert again.json()["error"]["code"] == "already_subscribed"
        portal = await client.post("/api/v1/billing/portal")
        assert portal.status_code == 200
        assert portal.json()["url"].startswith(stripe_base)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"plan": "platinum"}, "unknown_plan"),
        ({"plan": "free"}, "unknown_plan"),
        ({"plan": "pro", "interval": "weekly"}, "validation_error"),
        ({"plan": "pro", "coupon": "FREE"}, "validation_error"),
    ],
)
async def test_bad_checkouts_are_422_and_create_no_customer(
    synced, live_app, settings, sync_db, tenant_service, body, code
):
    tenant, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    async with client:
        response = await client.post("/api/v1/billing/checkout", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == code
    with sync_db.sync_session() as session:
        account = session.get(BillingAccount, tenant.id)
    assert account is None or account.stripe_customer_id is None


async def test_without_stripe_paid_plans_are_unavailable(
    live_app, settings, sync_db, tenant_service, monkeypatch
):
    from billing.settings import get_billing_settings

    monkeypatch.setenv("STRIPE_API_KEY", "")
    get_billing_settings.cache_clear()
    get_client.cache_clear()
    try:
        _, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
        async with client:
            response = await client.post("/api/v1/billing/checkout", json={"plan": "pro"})
            assert (await client.get("/api/v1/billing")).json()["plan"]["key"] == "free"
    finally:
        get_billing_settings.cache_clear()
        get_client.cache_clear()
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "billing_unavailable"


async def test_a_new_checkout_expires_the_previous_one_so_only_one_can_be_paid(
    synced, live_app, settings, sync_db, tenant_service
):
    _, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    pay = {"Authorization": "Bearer sk_test_platform"}
    async with client, httpx.AsyncClient() as browser:
        first = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        second = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "yearly"})
        assert first.status_code == second.status_code == 200
        stale = await browser.post(f"{first.json()['url']}/complete", headers=pay)
        assert stale.status_code == 404  # expired: paying it is no longer possible
        paid = await browser.post(f"{second.json()['url']}/complete", headers=pay)
        assert paid.status_code == 200
        assert paid.json()["status"] == "complete"
    subscriptions = synced.v1.subscriptions.list(params={"customer": paid.json()["customer"]}).data
    assert len(subscriptions) == 1


async def test_a_checkout_paid_moments_ago_refuses_another_before_its_webhook_arrives(
    synced, live_app, settings, sync_db, tenant_service
):
    _, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    pay = {"Authorization": "Bearer sk_test_platform"}
    async with client, httpx.AsyncClient() as browser:
        first = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        paid = await browser.post(f"{first.json()['url']}/complete", headers=pay)
        assert paid.status_code == 200
        # No webhook processed: the account still says "none", but the paid session is live.
        again = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "already_subscribed"
    assert again.json()["error"]["details"]["status"] == "trialing"


async def test_a_checkout_stripe_no_longer_knows_does_not_block_a_new_one(
    synced, live_app, settings, sync_db, tenant_service
):
    tenant, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    async with client:
        first = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        assert first.status_code == 200
        with sync_db.sync_session() as session, session.begin():
            session.get_one(BillingAccount, tenant.id).checkout_session_id = "cs_test_unknown_to_stripe"
        again = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
    assert again.status_code == 200, again.text


async def test_a_stripe_outage_is_503_not_500(
    synced, live_app, settings, sync_db, tenant_service, monkeypatch
):
    from billing.settings import get_billing_settings

    monkeypatch.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")  # nothing listens there
    get_billing_settings.cache_clear()
    get_client.cache_clear()
    _, client = await _tenant_client(live_app, settings, sync_db, tenant_service)
    async with client:
        checkout = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        portal = await client.post("/api/v1/billing/portal")
    for response in (checkout, portal):
        assert response.status_code == 503, response.text
        assert response.json()["error"]["code"] == "billing_unavailable"
