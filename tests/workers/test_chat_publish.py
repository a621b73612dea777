"""Chat events end to end: a message posted through the API (committed), the outbox, the relay and a
real worker put the room's events on its Redis stream, in order, and nothing stays pending."""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis
from sqlalchemy import func, select

from platform_core.chat.models import ChatEvent
from platform_core.kernel.realtime import stream_key
from tests.conftest import owner_client
from tests.support.processes import wait_until


def _events(client: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    return [(f[b"event"].decode(), json.loads(f[b"data"])) for _, f in client.xrange(key)]


async def test_a_posted_message_reaches_the_rooms_stream(
    live_app, settings, sync_db, live_tenant, relay, worker
):
    streams = redis.Redis.from_url(settings.redis_url)
    async with owner_client(live_app, settings, sync_db, live_tenant) as client:
        room = (await client.post("/api/v1/chat/rooms", json={"name": f"live-{uuid.uuid4().hex[:6]}"})).json()
        key = stream_key(live_tenant.id, f"chat.{room['id']}")
        posted = await client.post(
            f"/api/v1/chat/rooms/{room['id']}/messages", json={"body": "over the wire"}
        )
        assert posted.status_code == 201
        message = posted.json()
        edited = await client.patch(
            f"/api/v1/chat/rooms/{room['id']}/messages/{message['id']}", json={"body": "edited over the wire"}
        )
        assert edited.status_code == 200
    try:
        events = wait_until(lambda: (e := _events(streams, key)) and len(e) >= 3 and e, timeout=30)
        assert [name for name, _ in events] == ["room.created", "message.created", "message.updated"]
        assert events[1][1]["id"] == message["id"]
        assert events[1][1]["body"] == "over the wire"
        assert events[2][1]["body"] == "edited over the wire"
        with sync_db.sync_session(live_tenant.schema_name) as session:
            assert session.scalar(select(func.count()).select_from(ChatEvent)) == 0
    finally:
        streams.delete(key)
        streams.close()
