"""Realtime tasks: a recorded domain event put on its tenant's channel.

`kernel.events.record` writes this task to the outbox in the transaction of the change, for the event
types that have a channel (`REALTIME_CHANNELS`: item changes on `items`). So only a committed change is
announced, and none is lost: the outbox delivers the task even if a process dies after the commit. It
runs on the `default` queue, away from webhook deliveries. A task that fails after publishing (before
its own commit) runs again and publishes again: delivery to clients is at least once.
"""

from __future__ import annotations

from typing import Any

from redis.exceptions import RedisError
from sqlalchemy import select

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.events import REALTIME_CHANNELS, REALTIME_TASK, DomainEvent
from platform_core.kernel.realtime import publish_sync, sync_client
from platform_core.kernel.settings import get_settings
from workers.base import TaskContext, tenant_task


@tenant_task(
    REALTIME_TASK,
    runnable=frozenset({TenantStatus.ACTIVE}),
    autoretry_for=(RedisError, OSError),
    retry_backoff=True,
    max_retries=5,
)
def publish_event(ctx: TaskContext, *, event_id: str) -> str | None:
    """Publish a recorded event on its channel; the offset (None: no such event, or no channel)."""
    assert ctx.tenant is not None
    row = ctx.session.execute(
        select(DomainEvent.type, DomainEvent.payload).where(DomainEvent.id == event_id)
    ).first()
    if row is None or row.type not in REALTIME_CHANNELS:
        return None
    payload: dict[str, Any] = row.payload
    redis = sync_client(get_settings().redis_url)
    return publish_sync(redis, ctx.tenant.id, REALTIME_CHANNELS[row.type], row.type, payload["data"])
