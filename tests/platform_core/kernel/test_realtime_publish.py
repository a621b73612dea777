"""Publishing to a tenant's realtime channel: a capped Redis stream per tenant and channel."""

from __future__ import annotations

import json
import uuid

import pytest
import redis
from redis.asyncio import Redis

from platform_core.kernel.realtime import STREAM_MAXLEN, publish, publish_sync, stream_key


def test_channel_names_are_checked_and_keys_are_per_tenant():
    a, b = uuid.uuid4(), uuid.uuid4()
    assert stream_key(a, "chat.room-1") != stream_key(b, "chat.room-1")
    for bad in ("", "Chat", "chat.", "chat.a b", "jobs:*", "rt:x", "chat." + "x" * 65):
        with pytest.raises(ValueError, match="invalid channel"):
            stream_key(a, bad)


async def test_published_events_are_read_back_in_order_with_their_offsets(settings):
    tenant = uuid.uuid4()
    client = Redis.from_url(settings.redis_url)
    try:
        first = await publish(client, tenant, "items", "item.created", {"id": 1})
        second = await publish(client, tenant, "jobs", "job.progress", {"progress": 50}, user_id="u-1")
        third = publish_sync(
            redis.Redis.from_url(settings.redis_url), tenant, "items", "item.deleted", {"id": 1}
        )
        entries = await client.xrange(stream_key(tenant, "items"))
        assert [e[0].decode() for e in entries] == [first, third]
        assert json.loads(entries[0][1][b"data"]) == {"id": 1}
        assert entries[1][1][b"event"] == b"item.deleted"
        [(offset, fields)] = await client.xrange(stream_key(tenant, "jobs"))
        assert (offset.decode(), fields[b"user"]) == (second, b"u-1")
    finally:
        await client.delete(stream_key(tenant, "items"), stream_key(tenant, "jobs"))
        await client.aclose()


async def test_a_stream_is_capped(settings):
    tenant = uuid.uuid4()
    client = Redis.from_url(settings.redis_url)
    try:
        for n in range(STREAM_MAXLEN + 300):
            await publish(client, tenant, "items", "item.created", {"n": n})
        assert await client.xlen(stream_key(tenant, "items")) < STREAM_MAXLEN + 300
    finally:
        await client.delete(stream_key(tenant, "items"))
        await client.aclose()
