"""Webhook tasks (queue `webhooks`): an event's fan-out to the endpoints subscribed to it, and the
delivery of one endpoint's due events."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from celery import shared_task
from sqlalchemy.orm import Session

from platform_core.kernel.context import TenantStatus, tenant_id_var, tenant_slug_var
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.events import FAN_OUT_TASK, RECORD_EVENT_TASK, record_sync
from platform_core.kernel.outbox import enqueue
from platform_core.webhooks import repository as webhook_repository
from platform_core.webhooks.delivery import DELIVER_TASK, Deliverer
from platform_core.webhooks.settings import get_webhook_settings
from workers.base import TaskContext, TaskDropped, load_tenant, platform_task, tenant_task
from workers.database import worker_database
from workers.fanout import fan_out as fan_out_tenants

logger = logging.getLogger("platform.webhooks")
EVENT_RETENTION_DAYS = 30
PRUNE_TASK = "webhooks.prune"


# A suspended tenant's events are still handed out (in order), to be delivered once it is resumed.
@tenant_task(FAN_OUT_TASK, runnable=frozenset({TenantStatus.ACTIVE, TenantStatus.SUSPENDED}))
def fan_out(ctx: TaskContext, *, event_id: str) -> int:
    """Give the event a delivery per subscribed endpoint, and wake each endpoint's delivery."""
    assert ctx.tenant is not None
    endpoints = webhook_repository.fan_out(ctx.session, event_id)
    for endpoint_id in endpoints:
        enqueue(ctx.session, DELIVER_TASK, tenant_id=ctx.tenant.id, endpoint_id=str(endpoint_id))
    return len(endpoints)


@tenant_task(RECORD_EVENT_TASK, runnable=frozenset({TenantStatus.ACTIVE, TenantStatus.SUSPENDED}))
def record_event(ctx: TaskContext, *, event_type: str, data: dict[str, Any]) -> str:
    """Record an event sent from `public` code (billing) in the tenant's schema."""
    assert ctx.tenant is not None
    return record_sync(ctx.session, event_type, data, tenant_id=ctx.tenant.id)


@shared_task(name=DELIVER_TASK, bind=True)
def deliver(self: Any, *, tenant_id: str, endpoint_id: str) -> int:
    """Deliver one endpoint's due events in order (short transactions; no transaction spans a request)."""
    db = worker_database()
    try:
        tenant = load_tenant(db, tenant_id)
    except TaskDropped as exc:
        logger.warning("webhook delivery for %s dropped: %s", tenant_id, exc)
        return 0

    @contextmanager
    def sessions() -> Iterator[Session]:
        with db.sync_session(tenant.schema_name) as session:
            yield session

    slug_token, id_token = tenant_slug_var.set(tenant.slug), tenant_id_var.set(str(tenant.id))
    try:
        return Deliverer(sessions, tenant, uuid.UUID(endpoint_id), get_webhook_settings()).run()
    finally:
        tenant_slug_var.reset(slug_token)
        tenant_id_var.reset(id_token)


@platform_task("webhooks.fan_out_prune")
def fan_out_prune(ctx: TaskContext) -> int:
    """Daily: prune each tenant's old events and their deliveries."""
    return fan_out_tenants(ctx.session, PRUNE_TASK, period_seconds=3600)


@tenant_task(PRUNE_TASK)
def prune(ctx: TaskContext) -> int:
    """Delete events older than EVENT_RETENTION_DAYS (their deliveries go with them)."""
    return webhook_repository.prune_events(ctx.session, utcnow() - timedelta(days=EVENT_RETENTION_DAYS))
