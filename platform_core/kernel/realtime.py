"""Realtime, publishing side: put an event on a tenant's channel, from the API or a worker.

Each channel of each tenant is a Redis stream (`rt:<tenant id>:<channel>`), capped at about
STREAM_MAXLEN entries. An entry's stream id is its `offset`: subscribers in any API process read the
stream from where they are, so every process sees every event, and a client that reconnects resumes
after the last offset it saw for as long as the stream still holds it. Publishing needs nothing but
Redis, so any layer may publish; the WebSocket side that reads the streams is `platform_core/realtime/`.

Channel names are per tenant by construction (the tenant id is part of the key), so no subscriber of
one tenant can read another's. `user_id` restricts an event to one user's connections (the `jobs`
channel: a user sees their own jobs).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from functools import lru_cache
from typing import Any

import redis as sync_redis
from redis.asyncio import Redis

logger = logging.getLogger("platform.realtime")
STREAM_MAXLEN = 1000
CHANNEL = re.compile(r"^[a-z][a-z0-9_]*(\.[A-Za-z0-9_-]{1,64})?$")


def stream_key(tenant_id: uuid.UUID | str, channel: str) -> str:
    """The Redis stream of a tenant's channel."""
    if not CHANNEL.match(channel):
        raise ValueError(f"invalid channel name {channel!r}")
    return f"rt:{tenant_id}:{channel}"


def _fields(event: str, data: Any, user_id: uuid.UUID | str | None) -> dict[str, str]:
    fields = {"event": event, "data": json.dumps(data, separators=(",", ":"), default=str)}
    if user_id is not None:
        fields["user"] = str(user_id)
    return fields


async def publish(
    redis: Redis,
    tenant_id: uuid.UUID | str,
    channel: str,
    event: str,
    data: Any,
    *,
    user_id: uuid.UUID | str | None = None,
) -> str:
    """Append an event to a tenant's channel; its offset."""
    offset = await redis.xadd(
        stream_key(tenant_id, channel),
        _fields(event, data, user_id),  # type: ignore[arg-type]
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    return offset.decode() if isinstance(offset, bytes) else str(offset)


def publish_sync(
    redis: sync_redis.Redis,
    tenant_id: uuid.UUID | str,
    channel: str,
    event: str,
    data: Any,
    *,
    user_id: uuid.UUID | str | None = None,
) -> str:
    """`publish` for sync code (workers, the CLI)."""
    offset = redis.xadd(
        stream_key(tenant_id, channel),
        _fields(event, data, user_id),  # type: ignore[arg-type]
        maxlen=STREAM_MAXLEN,
        approximate=True,
    )
    return offset.decode() if isinstance(offset, bytes) else str(offset)


@lru_cache(maxsize=4)
def sync_client(redis_url: str) -> sync_redis.Redis:
    """The process's sync Redis client for publishing (workers); short timeouts, never in the way."""
    return sync_redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)


def publish_best_effort(
    redis_url: str,
    tenant_id: uuid.UUID | str,
    channel: str,
    event: str,
    data: Any,
    *,
    user_id: uuid.UUID | str | None = None,
) -> str | None:
    """`publish_sync` for notices whose durable record is elsewhere (a job's row): a Redis outage is
    logged and the caller's work goes on. Its offset, or None when it could not be published."""
    try:
        return publish_sync(sync_client(redis_url), tenant_id, channel, event, data, user_id=user_id)
    except (sync_redis.RedisError, OSError) as exc:
        logger.warning("realtime: could not publish %s on %s: %s", event, channel, exc)
        return None
