"""Stripe that does not answer, and a checkout that waits on another's lock: bounded, then 503."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from billing.models import BillingAccount
from billing.settings import get_billing_settings
from billing.stripe_client import get_client
from tests.billing.test_checkout import synced  # noqa: F401 - the fixture
from tests.conftest import owner_client
from tests.support.stalling import stalling_server

# Far below the SDK's own 80 s and the 30 s statement timeout, far above the 1 s configured here.
DEADLINE = 15.0


async def test_a_stripe_that_does_not_answer_is_503_after_the_timeout(
    synced,  # noqa: F811
    live_app,
    settings,
    sync_db,
    tenant_service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tenant = tenant_service.create(slug=f"stall-{uuid.uuid4().hex[:6]}", name="Stall")
    with stalling_server() as url:
        monkeypatch.setenv("STRIPE_API_BASE", url)
        monkeypatch.setenv("STRIPE_TIMEOUT_SECONDS", "1")
        monkeypatch.setenv("STRIPE_MAX_NETWORK_RETRIES", "0")
        get_billing_settings.cache_clear()
        get_client.cache_clear()
        async with owner_client(live_app, settings, sync_db, tenant) as client:
            checkout = await asyncio.wait_for(
                client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"}), DEADLINE
            )
    assert checkout.status_code == 503, checkout.text
    assert checkout.json()["error"]["code"] == "billing_unavailable"


async def test_a_checkout_waiting_on_another_checkouts_lock_is_503_billing_busy(
    synced,  # noqa: F811
    live_app,
    settings,
    sync_db,
    tenant_service,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLING_LOCK_TIMEOUT_SECONDS", "1")
    get_billing_settings.cache_clear()
    tenant = tenant_service.create(slug=f"lock-{uuid.uuid4().hex[:6]}", name="Lock")
    with sync_db.sync_session() as session, session.begin():
        session.add(
            BillingAccount(tenant_id=tenant.id, plan_key="free", status="none", cancel_at_period_end=False)
        )
    async with owner_client(live_app, settings, sync_db, tenant) as client:
        with sync_db.sync_session() as other:
            # Another checkout of the tenant holds the account's row lock (talking to Stripe, say).
            assert other.get(BillingAccount, tenant.id, with_for_update=True) is not None
            busy = await asyncio.wait_for(
                client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"}), DEADLINE
            )
            other.rollback()
        assert busy.status_code == 503, busy.text
        assert busy.json()["error"]["code"] == "billing_busy"
        assert busy.headers["retry-after"] == "5"
        # Once the lock is free, a checkout goes through.
        started = await client.post("/api/v1/billing/checkout", json={"plan": "pro", "interval": "monthly"})
        assert started.status_code == 200, started.text
