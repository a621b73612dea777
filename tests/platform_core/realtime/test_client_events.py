"""Client events (typing, presence) on a channel kind that allows them, with an authorizer of the test's.

The API runs in this process (uvicorn in a thread) so that the test can register its own channel kind,
as the assembly registers a domain's (chat's rooms).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import uvicorn

from platform_core.app.main import create_app
from platform_core.devstack._common import free_port
from platform_core.kernel.db.engines import Database
from platform_core.kernel.realtime import STREAM_MAXLEN, publish_sync
from platform_core.realtime import channels
from tests.platform_core.realtime.support import (
    bearer,
    connect,
    host,
    marker,
    new_user,
    receive,
    subscribe,
    ticket,
    until,
)
from tests.support.processes import wait_until


class InProcessApi:
    """The app served by uvicorn in a thread of the test process (what tests/support's helpers need)."""

    def __init__(self, app: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(
            uvicorn.Config(app, port=self.port, log_config=None, ws_ping_interval=None)
        )
        self.thread = threading.Thread(target=self.server.run, daemon=True)


@pytest.fixture(scope="module")
def room_kind() -> Iterator[set[str]]:
    """A `room.<name>` kind: readable by the users in the set, who may also publish on it."""
    members: set[str] = set()

    async def may(session: Any, principal: Any, suffix: str) -> bool:
        return suffix == "lobby" and str(principal.user_id) in members

    channels.AUTHORIZERS["room"] = may
    channels.CLIENT_PUBLISH["room"] = may
    yield members
    del channels.AUTHORIZERS["room"], channels.CLIENT_PUBLISH["room"]


@pytest.fixture(scope="module")
def api(settings, room_kind) -> Iterator[InProcessApi]:
    database = Database(settings, pool_size=2)
    own = settings.model_copy(update={"metrics_port": 0})  # no /metrics server: port 9100 may be taken
    served = InProcessApi(create_app(own, db=database, access_log=False))
    served.thread.start()
    wait_until(lambda: served.server.started, timeout=30)
    yield served
    served.server.should_exit = True
    served.thread.join(timeout=15)
    database.sync_engine.dispose()


async def test_client_events_reach_the_rooms_subscribers_and_are_never_replayed(
    api, settings, sync_db, tenant_a, room_kind
):
    alice, bob, eve = (new_user(sync_db, tenant_a) for _ in range(3))
    room_kind.update({str(alice.id), str(bob.id)})
    sockets = {
        name: await connect(api, host(tenant_a), ticket(api, bearer(settings, tenant_a, user)))
        for name, user in (("alice", alice), ("bob", bob), ("eve", eve))
    }
    assert (await subscribe(sockets["bob"], "room.lobby"))["type"] == "subscribed"
    assert (await subscribe(sockets["eve"], "room.lobby"))["code"] == "forbidden"
    assert (await subscribe(sockets["bob"], "room.kitchen"))["code"] == "forbidden"

    value = marker()
    await sockets["alice"].send(
        json.dumps({"type": "publish", "channel": "room.lobby", "event": "typing", "data": {"m": value}})
    )
    got = await receive(sockets["bob"])
    assert got == {
        "type": "event",
        "channel": "room.lobby",
        "event": "client.typing",
        "data": {"user_id": str(alice.id), "data": {"m": value}},
        "offset": None,  # not kept for resuming
    }
    await sockets["eve"].send(json.dumps({"type": "publish", "channel": "room.lobby", "data": {}}))
    assert (await receive(sockets["eve"]))["code"] == "forbidden"
    await sockets["alice"].send(json.dumps({"type": "publish", "channel": "room.lobby", "event": "Bad!"}))
    assert (await receive(sockets["alice"]))["code"] == "invalid_event"

    # A resumed subscription replays the channel's events, never its client events.
    later = await connect(api, host(tenant_a), ticket(api, bearer(settings, tenant_a, bob)))
    assert (await subscribe(later, "room.lobby", offset="0-0"))["type"] == "subscribed"
    await later.send(json.dumps({"type": "ping"}))
    assert (await receive(later))["type"] == "pong"
    for ws in (*sockets.values(), later):
        await ws.close()


async def test_a_reader_that_falls_behind_the_cap_says_events_were_lost(api, settings, sync_db, tenant_a):
    hub = api.server.config.app.state.realtime_hub
    settings_before = hub.settings
    hub.settings = hub.settings.model_copy(update={"send_queue_size": 5000})
    hub.read_count = 10  # a slow reader: ten entries per read
    try:
        user = new_user(sync_db, tenant_a)
        ws = await connect(api, host(tenant_a), ticket(api, bearer(settings, tenant_a, user)))
        assert (await subscribe(ws, "items"))["type"] == "subscribed"
        bus = redis.Redis.from_url(settings.redis_url)
        with bus.pipeline(transaction=False) as pipe:  # far more than the cap, at once
            for n in range(STREAM_MAXLEN * 2):
                publish_sync(pipe, tenant_a.id, "items", "item.updated", {"n": n})
            pipe.execute()
        bus.close()
        lost = await until(ws, lambda m: m.get("type") == "error")
        assert (lost["code"], lost["channel"]) == ("events_lost", "items")
        await ws.close()
    finally:
        hub.settings, hub.read_count = settings_before, 500
