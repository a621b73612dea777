"""Billing tasks: process a stored Stripe event, retrying (then parking) what cannot be done yet."""

from __future__ import annotations

import logging

import stripe
from sqlalchemy import update

from billing import events
from billing.exceptions import EventNotReady
from billing.models import StripeEvent
from billing.settings import get_billing_settings
from billing.stripe_client import get_client
from billing.webhooks import PROCESS_TASK
from platform_core.db.base import utcnow
from platform_core.settings import get_settings
from workers.base import TaskContext, platform_task
from workers.email.tasks import retry_countdown

logger = logging.getLogger("platform.billing")


@platform_task(PROCESS_TASK)
def process_event(ctx: TaskContext, *, event_id: str) -> None:
    """Apply one Stripe event; on a Stripe outage or an unknown customer retry, then park it."""
    event = ctx.session.get(StripeEvent, event_id, with_for_update=True)
    if event is None or event.status in ("processed", "ignored"):
        return
    if event.type not in events.HANDLED:
        event.status, event.processed_at = "ignored", utcnow()
        return
    try:
        tenant_id = events.apply_event(ctx.session, get_client(), event, get_settings())
    except (EventNotReady, stripe.StripeError) as exc:
        ctx.session.rollback()  # release the event row before recording the failure beside it
        parked = record_failure(ctx, event_id, exc)
        if not parked:
            countdown = retry_countdown(ctx.attempt, base=2, cap=600)
            raise ctx.task.retry(exc=exc, countdown=countdown, max_retries=None) from exc
        return
    event.status, event.processed_at, event.tenant_id = "processed", utcnow(), tenant_id
    event.last_error = None


def record_failure(ctx: TaskContext, event_id: str, exc: BaseException) -> bool:
    """Count a failed attempt on the event in its own transaction; True once it is parked."""
    limit = get_billing_settings().billing_event_max_attempts
    with ctx.db.sync_session() as session, session.begin():
        attempts = session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == event_id)
            .values(attempts=StripeEvent.attempts + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000])
            .returning(StripeEvent.attempts)
        ).scalar_one()
        parked = attempts >= limit
        session.execute(
            update(StripeEvent)
            .where(StripeEvent.id == event_id)
            .values(status="parked" if parked else "failed")
        )
    log = logger.error if parked else logger.warning
    log(
        "Stripe event %s attempt %d failed%s: %s", event_id, attempts, " and is parked" if parked else "", exc
    )
    return parked
