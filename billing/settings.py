"""Billing settings: Stripe credentials and where the SDK sends its requests, and the dunning rules."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    """STRIPE_* and BILLING_* environment variables."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    stripe_api_key: str = ""
    # Point the SDK at a Stripe-compatible server (localstripe in tests and `make dev`); empty: Stripe.
    stripe_api_base: str = ""
    # Comma-separated signing secrets, so the endpoint's secret can be rotated; empty disables it.
    stripe_webhook_secret: str = ""
    # Days a past_due subscription keeps full access before the tenant becomes read-only (fractions
    # allowed: 0.5 is twelve hours).
    billing_past_due_grace_days: float = Field(default=7, ge=0, le=90)
    # Attempts at an event (e.g. for a customer Stripe has not told us about yet) before it is parked.
    billing_event_max_attempts: int = Field(default=8, ge=1, le=50)
    # Seconds one HTTP request to Stripe may take (connect and read; the SDK's own default is 80), and
    # how often a failed request is retried: a checkout holds a row lock, a pooled connection and a
    # thread meanwhile, so both bound how long a slow Stripe holds them. Past them: 503.
    stripe_timeout_seconds: float = Field(default=10, gt=0, le=80)
    stripe_max_network_retries: int = Field(default=1, ge=0, le=5)
    # How long a checkout or portal request waits for the tenant's billing account row, locked by
    # another checkout of the same tenant, before answering 503.
    billing_lock_timeout_seconds: float = Field(default=5, gt=0, le=60)

    @property
    def webhook_secrets(self) -> list[str]:
        """The configured signing secrets, newest first as written."""
        return [s.strip() for s in self.stripe_webhook_secret.split(",") if s.strip()]

    @property
    def stripe_enabled(self) -> bool:
        """Whether paid plans are available (a free plan works without Stripe)."""
        return bool(self.stripe_api_key)


@lru_cache
def get_billing_settings() -> BillingSettings:
    """The process's billing settings (cached)."""
    return BillingSettings()
