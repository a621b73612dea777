"""A tenant's last Checkout Session: make sure it cannot be paid once a newer one, or a deletion, says so."""

from __future__ import annotations

from typing import Any

import stripe

from billing.stripe_client import is_missing


def settle_checkout(client: stripe.StripeClient, session_id: str) -> tuple[str | None, dict[str, Any]]:
    """Expire the session if it is still open; return its status before that and the session as it is
    now (None and {} when Stripe does not know it, as after a change of keys: nothing can pay it)."""
    try:
        checkout = client.v1.checkout.sessions.retrieve(session_id)
    except stripe.InvalidRequestError as exc:
        if is_missing(exc):
            return None, {}
        raise
    status = checkout.status
    if status == "open":
        checkout = client.v1.checkout.sessions.expire(session_id)
    return status, checkout.to_dict()
