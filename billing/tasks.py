"""Billing tasks: process a stored Stripe event, retrying (then parking) what cannot be done yet."""

from __future__ import annotations

import logging
import uuid

import stripe
from sqlalchemy.orm import Session

from billing import events, repository, seats, subscriptions
from billing.exceptions import EventNotReady
from billing.seats import SEATS_TASK
from billing.settings import get_billing_settings
from billing.state import state_of
from billing.stripe_client import get_client
from billing.tenant_lifecycle import follow_tenant
from billing.webhooks import PROCESS_TASK
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import get_settings
from tenants.lifecycle import BILLING_FOLLOW_TASK
from workers.base import TaskContext, platform_task
from workers.email.tasks import retry_countdown

logger = logging.getLogger("platform.billing")
SYNC_TASK = "billing.sync_subscription"


@platform_task(PROCESS_TASK)
def process_event(ctx: TaskContext, *, event_id: str) -> None:
    """Apply one Stripe event; on a Stripe outage or an unknown customer retry, then park it."""
    event = repository.get_event(ctx.session, event_id, lock=True)
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
    # Its own transaction: the task's is rolled back, and the count must stay.
    with ctx.db.sync_session() as session, session.begin():
        attempts = repository.count_failed_attempt(
            session, event_id, error=f"{type(exc).__name__}: {exc}", park_after=limit
        )
    parked = attempts >= limit
    log = logger.error if parked else logger.warning
    log(
        "Stripe event %s attempt %d failed%s: %s", event_id, attempts, " and is parked" if parked else "", exc
    )
    return parked


RECONCILE_PERIOD_SECONDS = 24 * 3600.0


@platform_task("billing.reconcile_subscriptions")
def reconcile_subscriptions(ctx: TaskContext) -> int:
    """Queue a re-sync from Stripe of every tenant that has a Stripe customer, spread over a day."""
    return queue_reconciliation(ctx.session)


def queue_reconciliation(session: Session) -> int:
    """Enqueue one `billing.sync_subscription` per tenant with a Stripe customer; return how many."""
    tenant_ids = repository.customer_tenant_ids(session)
    step = RECONCILE_PERIOD_SECONDS / len(tenant_ids) if tenant_ids else 0
    for index, tenant_id in enumerate(tenant_ids):
        enqueue(session, SYNC_TASK, tenant_id=tenant_id, delay_seconds=index * step)
    return len(tenant_ids)


@platform_task(SYNC_TASK, max_retries=5)
def sync_subscription(ctx: TaskContext, *, tenant_id: str) -> bool:
    """Bring one tenant's billing account in line with Stripe (the daily reconciliation), and a
    per-seat subscription's quantity in line with the members (the database is right about those)."""
    account = repository.get_account(ctx.session, uuid.UUID(str(tenant_id)), lock=True)
    if account is None or not account.stripe_customer_id:
        return False
    cached = state_of(account)
    try:
        changed = subscriptions.resync_account(ctx.session, get_client(), account)
        if seats.pays_per_seat(account):
            pushed = seats.sync_seats(ctx.session, get_client(), account, run_id=ctx.task_id)
            if pushed is not None:
                logger.warning("reconciliation set tenant %s's seats in Stripe to %d", tenant_id, pushed)
    except stripe.StripeError as exc:
        raise ctx.task.retry(exc=exc, countdown=retry_countdown(ctx.attempt, base=60, cap=3600)) from exc
    if changed:
        logger.warning("reconciliation corrected tenant %s's subscription to %s", tenant_id, account.status)
    if state_of(account) != cached:
        repository.notify_state_changed(ctx.session, account.tenant_id)
    return changed


@platform_task(SEATS_TASK, max_retries=5)
def sync_seats_task(ctx: TaskContext, *, tenant_id: str) -> int | None:
    """Update a per-seat subscription's quantity to the tenant's member count."""
    account = repository.get_account(ctx.session, uuid.UUID(str(tenant_id)), lock=True)
    if account is None or not seats.pays_per_seat(account):
        return None  # queued for any member change; only a live per-seat subscription follows them
    try:
        return seats.sync_seats(ctx.session, get_client(), account, run_id=ctx.task_id)
    except stripe.StripeError as exc:
        raise ctx.task.retry(exc=exc, countdown=retry_countdown(ctx.attempt, base=30, cap=1800)) from exc


@platform_task(BILLING_FOLLOW_TASK, max_retries=None)
def follow_tenant_lifecycle(
    ctx: TaskContext, *, tenant_id: str, change: str = "", at: str = ""
) -> str | None:
    """Bring a tenant's subscription and open checkout in line with the tenant's status now (deleting:
    cancel at period end; restored: renew; purged: cancel). `change` says what queued it, for logs."""
    if not get_billing_settings().stripe_enabled:
        return None
    account = repository.get_account(ctx.session, uuid.UUID(str(tenant_id)), lock=True)
    if account is None:
        return None
    tenant = repository.get_tenant(ctx.session, account.tenant_id)
    status = TenantStatus(tenant.status) if tenant is not None else None
    cached = state_of(account)
    try:
        done = follow_tenant(ctx.session, get_client(), account, status, at or ctx.task_id)
    except stripe.StripeError as exc:
        raise ctx.task.retry(exc=exc, countdown=retry_countdown(ctx.attempt, base=30, cap=3600)) from exc
    if done:
        logger.info("after %s of tenant %s: %s", change or "a change", tenant_id, done)
    if state_of(account) != cached:
        repository.notify_state_changed(ctx.session, account.tenant_id)
    return done
