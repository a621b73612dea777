"""Webhook errors."""

from __future__ import annotations

from platform_core.kernel.errors import NotFound, Unprocessable


class EndpointNotFound(NotFound):
    """No such endpoint in this tenant."""

    code = "webhook_endpoint_not_found"
    message = "Webhook endpoint not found."


class DeliveryNotFound(NotFound):
    """No such delivery of this endpoint."""

    code = "webhook_delivery_not_found"
    message = "Delivery not found."


class TargetNotAllowed(Unprocessable):
    """The URL may not receive webhooks (not https, or a private, loopback or link-local address)."""

    code = "webhook_target_not_allowed"


class UnknownEventType(Unprocessable):
    """An event type that is not in the catalogue."""

    code = "unknown_event_type"


class TooManyEndpoints(Unprocessable):
    """A tenant has at most MAX_ENDPOINTS endpoints."""

    code = "too_many_webhook_endpoints"
