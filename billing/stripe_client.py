"""The Stripe SDK client, configured from BillingSettings (STRIPE_API_BASE points it at a stand-in)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache

import stripe

from billing.exceptions import BillingUnavailable
from billing.settings import BillingSettings, get_billing_settings


def make_client(settings: BillingSettings) -> stripe.StripeClient:
    """A StripeClient for these settings; BillingUnavailable when no API key is configured."""
    if not settings.stripe_api_key:
        raise BillingUnavailable("Paid plans are not configured on this platform (no STRIPE_API_KEY).")
    return stripe.StripeClient(
        settings.stripe_api_key,
        base_addresses={"api": settings.stripe_api_base.rstrip("/")} if settings.stripe_api_base else {},
        max_network_retries=settings.stripe_max_network_retries,
        http_client=stripe.new_default_http_client(timeout=settings.stripe_timeout_seconds),
    )


@lru_cache(maxsize=1)
def get_client() -> stripe.StripeClient:
    """The process's Stripe client."""
    return make_client(get_billing_settings())


logger = logging.getLogger("platform.billing")


def is_missing(exc: stripe.StripeError) -> bool:
    """Whether Stripe answered that the object does not exist."""
    return isinstance(exc, stripe.InvalidRequestError) and (
        exc.code == "resource_missing" or exc.http_status == 404
    )


@contextmanager
def stripe_errors() -> Iterator[None]:
    """Answer a Stripe failure inside the block as 503 billing_unavailable (never a 500)."""
    try:
        yield
    except stripe.StripeError as exc:
        logger.error("Stripe request failed: %s", exc)
        raise BillingUnavailable(
            "Stripe could not complete the request; try again in a moment.",
            details={"stripe_code": exc.code},
        ) from exc
