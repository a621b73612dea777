"""The Stripe SDK client, configured from BillingSettings (STRIPE_API_BASE points it at a stand-in)."""

from __future__ import annotations

from functools import lru_cache

import stripe

from billing.exceptions import BillingUnavailable
from billing.settings import BillingSettings, get_billing_settings


def make_client(settings: BillingSettings) -> stripe.StripeClient:
    """A StripeClient for these settings; BillingUnavailable when no API key is configured."""
    if not settings.stripe_api_key:
        raise BillingUnavailable("Paid plans are not configured on this platform (no STRIPE_API_KEY).")
    bases: dict[str, str] = {}
    if settings.stripe_api_base:
        bases = {"api": settings.stripe_api_base.rstrip("/")}
    return stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses=bases,  # type: ignore[arg-type]
        max_network_retries=2,
    )


@lru_cache(maxsize=1)
def get_client() -> stripe.StripeClient:
    """The process's Stripe client."""
    return make_client(get_billing_settings())
