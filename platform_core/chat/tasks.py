"""Chat tasks: publish a room's committed realtime events to its Redis stream, in order.

The request writes each event into `chat_event` with an outbox task (`chat.publish`) in its own
transaction. This task takes the room's publishing lock (one publisher per room at a time), appends the
room's pending events to `chat.<room_id>` oldest first with `kernel.realtime.publish_sync`, and deletes
them in the same transaction. Delivery is at least once: a worker that dies after XADD but before its
commit publishes those events again (a client drops a repeat by the message id and `edited_at`, or the
room's `updated_at`). If Redis is down the task is retried with backoff; whatever is still pending goes
out with the room's next publish as well.
"""

from __future__ import annotations

import functools
import uuid

import redis as sync_redis
from sqlalchemy.orm import Session

from platform_core.chat import repository as chat_repository
from platform_core.chat.service import PUBLISH_TASK, channel
from platform_core.kernel.context import TenantStatus
from platform_core.kernel.realtime import publish_sync
from platform_core.kernel.settings import get_settings
from workers.base import TaskContext, tenant_task

BATCH = 500


@functools.cache
def realtime_redis() -> sync_redis.Redis:
    """This process's Redis client for publishing (the streams live in REDIS_URL's database)."""
    return sync_redis.Redis.from_url(get_settings().redis_url, socket_timeout=5, socket_connect_timeout=5)


def publish_pending(
    session: Session, tenant_id: uuid.UUID | str, room_id: uuid.UUID, redis: sync_redis.Redis
) -> int:
    """Publish the room's pending events in order and forget them (in the session's transaction)."""
    chat_repository.lock_room_events(session, f"chat:{tenant_id}:{room_id}")
    published = 0
    while events := chat_repository.pending_events(session, room_id, limit=BATCH):
        for event in events:
            publish_sync(redis, tenant_id, channel(room_id), event.event, event.data)
        chat_repository.delete_events(session, [e.seq for e in events])
        published += len(events)
        if len(events) < BATCH:
            break
    return published


# A suspended tenant's last events still go out (in order); its sockets are the realtime server's concern.
@tenant_task(
    PUBLISH_TASK,
    runnable=frozenset({TenantStatus.ACTIVE, TenantStatus.SUSPENDED}),
    autoretry_for=(sync_redis.RedisError,),
    retry_backoff=True,
    retry_backoff_max=60,
    max_retries=30,
)
def publish(ctx: TaskContext, *, room_id: str) -> int:
    """Publish a room's committed chat events to its realtime channel."""
    assert ctx.tenant is not None
    return publish_pending(ctx.session, ctx.tenant.id, uuid.UUID(room_id), realtime_redis())
