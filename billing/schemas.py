"""What the billing API shows and accepts."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from billing.catalog import Interval
from platform_core.kernel.paging import Page


class PlanRead(BaseModel):
    """A plan of the catalogue."""

    key: str
    name: str
    trial_days: int
    per_seat: bool
    prices: dict[str, int]
    seats: int
    storage_bytes: int
    features: list[str]
    api_rate_limit: str


class BillingRead(BaseModel):
    """The tenant's billing: plan, subscription state and usage against the plan."""

    plan: PlanRead
    status: str
    interval: str | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    trial_end: datetime | None
    past_due_since: datetime | None
    seats_used: int
    seats_allowed: int
    storage_used_bytes: int
    storage_allowed_bytes: int


class CheckoutRequest(BaseModel):
    """Start a subscription to a plan."""

    model_config = ConfigDict(extra="forbid")

    plan: str
    interval: Interval = Interval.MONTHLY


class RedirectRead(BaseModel):
    """Where to send the user's browser."""

    url: str


class WebhookAck(BaseModel):
    """A stored (or already stored) Stripe event."""

    received: bool
    duplicate: bool


class StripeEventRead(BaseModel):
    """A received Stripe event and what became of it."""

    id: str
    type: str
    created: datetime
    received_at: datetime
    status: str
    attempts: int
    last_error: str | None
    processed_at: datetime | None


class OperatorBillingRead(BaseModel):
    """A tenant's billing as an operator sees it: the account and its latest Stripe events."""

    plan_key: str
    status: str
    stripe_customer_id: str | None
    stripe_subscription_id: str | None
    interval: str | None
    quantity: int | None
    current_period_end: datetime | None
    cancel_at_period_end: bool
    past_due_since: datetime | None
    synced_at: datetime | None
    events: list[StripeEventRead]


class WaitingEventRead(StripeEventRead):
    """A Stripe event that is not processed yet (failed and retried, or parked), with its tenant if known."""

    tenant_id: uuid.UUID | None


class WaitingEventPage(Page[WaitingEventRead]):
    """One page of waiting Stripe events, oldest first."""


class ReplayRead(BaseModel):
    """The events queued for processing again."""

    queued: list[str]
