"""What can go wrong with billing requests and Stripe events."""

from __future__ import annotations

from typing import Any

from platform_core.kernel.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    PaymentRequired,
    Unprocessable,
)


class WebhooksDisabled(NotFound):
    """No signing secret is configured: the endpoint does not exist."""

    code = "not_found"
    message = "No route matches this path."


class InvalidSignature(BadRequest):
    """The Stripe-Signature header does not match the body with any configured secret."""

    code = "invalid_signature"
    message = "The webhook signature is invalid."


class MalformedEvent(BadRequest):
    """The body is not a Stripe event."""

    code = "malformed_event"
    message = "The webhook body is not a Stripe event."


class UnknownPlan(Unprocessable):
    """No such plan, or it cannot be bought with this interval."""

    code = "unknown_plan"


class AlreadySubscribed(Conflict):
    """The tenant already has a live subscription: change it in the billing portal."""

    code = "already_subscribed"
    message = "This workspace already has a subscription; change it in the billing portal."


class BillingUnavailable(AppError):
    """Paid plans need Stripe, which is not configured or not answering."""

    status_code = 503
    code = "billing_unavailable"
    message = "Billing is not available right now."


class BillingBusy(BillingUnavailable):
    """Another checkout or portal request of this workspace holds its billing account for too long."""

    code = "billing_busy"
    message = "Another billing change for this workspace is in progress; try again in a moment."

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"Retry-After": "5"})
        super().__init__(message, **kwargs)


class SubscriptionInactive(PaymentRequired):
    """The subscription is unpaid or canceled: only billing and sign-in work."""

    code = "subscription_inactive"


class PaymentOverdue(PaymentRequired):
    """Payment is overdue past the grace period: the workspace is read-only."""

    code = "payment_overdue"


class EventNotReady(Exception):
    """The event cannot be processed yet (e.g. its customer is not known yet): retry it later."""
