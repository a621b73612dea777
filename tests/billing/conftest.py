"""Billing fixtures: a localstripe server per test worker and an SDK client pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from billing.settings import BillingSettings, get_billing_settings
from billing.stripe_client import get_client, make_client
from platform_core.devstack.stripe_servers import local_stripe

API_KEY = "sk_test_platform"


@pytest.fixture(scope="session")
def stripe_base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """This worker's Stripe-compatible API: localstripe, behind the stand-in for prices, checkout
    and the portal (platform_core/devstack/stripe_standin.py)."""
    with local_stripe(tmp_path_factory.mktemp("stripe")) as url:
        yield url


@pytest.fixture
def stripe_client(stripe_base: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[stripe.StripeClient]:
    """The platform's Stripe settings pointed at localstripe, and an SDK client for the test itself."""
    monkeypatch.setenv("STRIPE_API_KEY", API_KEY)
    monkeypatch.setenv("STRIPE_API_BASE", stripe_base)
    get_billing_settings.cache_clear()
    get_client.cache_clear()
    yield make_client(BillingSettings(stripe_api_key=API_KEY, stripe_api_base=stripe_base))
    get_billing_settings.cache_clear()
    get_client.cache_clear()
