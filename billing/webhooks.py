"""Inbound Stripe webhooks: verify the signature on the raw body, store the event once, queue it.

The event is stored in `public.stripe_event` (its id unique: a duplicate is acknowledged and ignored)
and `billing.process_event` is written to the outbox in the same transaction, so an acknowledged event
is never lost and is processed off the request path, in the `billing` queue.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import stripe
from sqlalchemy.ext.asyncio import AsyncSession

from billing import repository
from billing.exceptions import InvalidSignature, MalformedEvent, WebhooksDisabled
from platform_core.kernel.outbox import enqueue_async

PROCESS_TASK = "billing.process_event"
MAX_BODY_BYTES = 1024 * 1024
TOLERANCE_SECONDS = 300


def verify_event(payload: bytes, signature: str | None, secrets: list[str]) -> dict[str, Any]:
    """The event in `payload` if its signature matches one of `secrets` (Stripe's scheme, via the SDK)."""
    if not secrets:
        raise WebhooksDisabled
    if not signature or len(payload) > MAX_BODY_BYTES:
        raise InvalidSignature
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedEvent from exc
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(text, signature, secret, TOLERANCE_SECONDS)
            break
        except stripe.SignatureVerificationError:
            continue
    else:
        raise InvalidSignature
    return _parse(text)


def _parse(text: str) -> dict[str, Any]:
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise MalformedEvent from exc
    valid = (
        isinstance(event, dict)
        and isinstance(event.get("id"), str)
        and 0 < len(event["id"]) <= 255
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance((event.get("data") or {}).get("object"), dict)
    )
    if not valid:
        raise MalformedEvent
    return event


async def store_event(session: AsyncSession, event: dict[str, Any]) -> bool:
    """Store a verified event and queue its processing; False when it was already stored."""
    created = datetime.fromtimestamp(event["created"], UTC)
    if not await repository.insert_event(session, event, created=created):
        return False
    await enqueue_async(session, PROCESS_TASK, event_id=event["id"])
    return True
