"""Realtime over real sockets: two API processes, WebSocket clients on each, Redis streams between them."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
import uuid

import httpx
import pytest
import redis
import websockets

from platform_core.jobs.models import Job
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.realtime import STREAM_MAXLEN, publish_sync
from tests.conftest import subscribed
from tests.factories import UserFactory
from tests.platform_core.realtime.conftest import api_env
from tests.platform_core.realtime.support import (
    bearer,
    closed_with,
    connect,
    host,
    marker,
    new_user,
    patch,
    post,
    receive,
    subscribe,
    ticket,
    until,
)
from tests.support.processes import ApiServer, wait_until


@pytest.fixture(scope="module")
def rt_tenant(tenant_service, sync_db):
    """A committed tenant on a paid plan (reports need it), its own for these tests."""
    created = tenant_service.create(slug=f"rt-{marker()[:8]}", name="Realtime")
    return subscribed(sync_db, created)


@pytest.fixture(scope="module")
def other_tenant(tenant_service, sync_db):
    """A second committed tenant."""
    return subscribed(sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="Other"))


@pytest.fixture
def redis_client(settings):
    client = redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


def _is_event(channel: str, value: str):
    return lambda m: m.get("type") == "event" and m["channel"] == channel and m["data"].get("m") == value


class TestConnecting:
    async def test_a_ticket_opens_one_connection_only(self, apis, settings, sync_db, rt_tenant):
        one, _ = apis
        headers = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        value = ticket(one, headers)
        ws = await connect(one, host(rt_tenant), value)
        assert (await subscribe(ws, "items"))["type"] == "subscribed"
        await ws.close()

        spent = await connect(one, host(rt_tenant), value)
        assert await closed_with(spent) == (4401, "the ticket is unknown, spent or expired")
        wait_until(lambda: '"WebSocket /api/v1/realtime?ticket=…" [accepted]' in one.output(), timeout=10)
        assert value not in one.output()  # the server's log lines never carry a ticket

    async def test_missing_and_unknown_tickets_are_refused(self, apis, rt_tenant):
        one, two = apis
        assert (await closed_with(await connect(one, host(rt_tenant), None)))[0] == 4401
        assert (await closed_with(await connect(two, host(rt_tenant), "rtk_nope")))[0] == 4401

    async def test_a_ticket_of_another_tenant_is_refused_and_spent(
        self, apis, settings, sync_db, rt_tenant, other_tenant
    ):
        one, _ = apis
        value = ticket(one, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        foreign = await connect(one, host(other_tenant), value)
        assert await closed_with(foreign) == (4403, "the ticket is for another workspace")
        # The attempt spent it: it cannot be used on its own host afterwards either.
        assert (await closed_with(await connect(one, host(rt_tenant), value)))[0] == 4401

    async def test_a_connection_outlives_the_http_header_deadline(self, apis, settings, sync_db, rt_tenant):
        _, two = apis
        ws = await connect(
            two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        )
        await asyncio.sleep(2.5)  # REQUEST_HEADER_TIMEOUT_SECONDS is 1 on these servers
        await ws.send(json.dumps({"type": "ping"}))
        assert (await receive(ws))["type"] == "pong"
        await ws.close()

    def test_a_workspace_whose_subscription_is_inactive_gets_no_ticket(
        self, apis, settings, sync_db, tenant_service
    ):
        one, _ = apis
        tenant = subscribed(
            sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="Lapsed"), status="canceled"
        )
        answer = httpx.post(
            f"{one.url}/api/v1/realtime/tickets", headers=bearer(settings, tenant, new_user(sync_db, tenant))
        )
        assert answer.status_code == 402
        assert answer.json()["error"]["code"] == "subscription_inactive"

    def test_a_handshake_with_two_host_headers_is_refused(self, apis, settings, sync_db, rt_tenant):
        one, _ = apis
        value = ticket(one, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        with socket.create_connection(("127.0.0.1", one.port), timeout=10) as sock:
            sock.sendall(
                (
                    f"GET /api/v1/realtime?ticket={value} HTTP/1.1\r\nHost: {host(rt_tenant)}\r\n"
                    "Host: other.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            assert sock.recv(65536).startswith(b"HTTP/1.1 403")

    def test_tickets_need_credentials(self, apis, rt_tenant):
        one, _ = apis
        answer = httpx.post(f"{one.url}/api/v1/realtime/tickets", headers={"Host": host(rt_tenant)})
        assert answer.status_code == 401

    async def test_bad_messages_get_errors_and_the_connection_goes_on(
        self, apis, settings, sync_db, rt_tenant
    ):
        one, _ = apis
        ws = await connect(
            one, host(rt_tenant), ticket(one, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        )
        await ws.send("not json")
        assert (await receive(ws))["code"] == "bad_message"
        await ws.send(json.dumps({"type": "dance"}))
        assert (await receive(ws))["code"] == "unknown_type"
        assert (await subscribe(ws, "no such channel!"))["code"] == "invalid_channel"
        assert (await subscribe(ws, "nothing"))["code"] == "forbidden"
        assert (await subscribe(ws, "items.other"))["code"] == "forbidden"
        assert (await subscribe(ws, "items", offset="yesterday"))["code"] == "invalid_offset"
        await ws.send(json.dumps({"type": "publish", "channel": "items", "data": {}}))
        assert (await receive(ws))["code"] == "forbidden"  # clients may not publish on `items`
        await ws.send(json.dumps({"type": "ping", "id": 7}))
        assert await receive(ws) == {"type": "pong", "id": 7}
        await ws.send("x" * 5000)  # over REALTIME_MAX_MESSAGE_BYTES
        assert (await closed_with(ws))[0] == 1009


class TestPermissions:
    async def test_an_api_key_connects_with_its_own_scopes(self, apis, settings, sync_db, rt_tenant):
        one, two = apis
        owner = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        created = post(
            one, "/api/v1/api-keys", owner, {"name": f"rt-{marker()[:6]}", "scopes": ["jobs:read"]}
        )
        assert created.status_code == 201, created.text
        key = {"Authorization": f"Bearer {created.json()['secret']}", "Host": host(rt_tenant)}
        ws = await connect(two, host(rt_tenant), ticket(one, key))
        assert (await subscribe(ws, "jobs"))["type"] == "subscribed"
        assert (await subscribe(ws, "items"))["code"] == "forbidden"  # the key lacks items:read
        await ws.close()

    async def test_a_subscription_ends_when_its_permission_is_taken_away(
        self, apis, settings, sync_db, rt_tenant
    ):
        one, two = apis
        owner = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        role = post(
            one, "/api/v1/roles", owner, {"name": f"rt-{marker()[:8]}", "permissions": ["items:read"]}
        )
        assert role.status_code == 201, role.text
        reader = UserFactory.build(role_id=uuid.UUID(role.json()["id"]))
        with sync_db.sync_session(rt_tenant.schema_name) as session:
            session.add(reader)
            session.commit()
        ws = await connect(two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, reader)))
        assert (await subscribe(ws, "items"))["type"] == "subscribed"
        assert (await subscribe(ws, "jobs"))["code"] == "forbidden"
        changed = patch(one, f"/api/v1/roles/{role.json()['id']}", owner, {"permissions": ["jobs:read"]})
        assert changed.status_code == 200, changed.text
        revoked = await until(ws, lambda m: m.get("type") == "error")
        assert (revoked["code"], revoked["channel"]) == ("forbidden", "items")
        assert (await subscribe(ws, "jobs"))["type"] == "subscribed"  # what it holds now
        await ws.close()

    async def test_suspending_the_workspace_closes_its_sockets(self, apis, settings, sync_db, tenant_service):
        one, _ = apis
        tenant = subscribed(sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="Paused"))
        ws = await connect(
            one, host(tenant), ticket(one, bearer(settings, tenant, new_user(sync_db, tenant)))
        )
        assert (await subscribe(ws, "items"))["type"] == "subscribed"
        tenant_service.suspend(tenant.slug, reason="unpaid invoices")
        code, reason = await closed_with(ws)
        assert (code, reason) == (4403, "This workspace is suspended: unpaid invoices.")

    async def test_connections_per_tenant_are_limited_over_both_processes(
        self, apis, settings, sync_db, tenant_service
    ):
        tenant = subscribed(sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="Crowded"))
        headers = bearer(settings, tenant, new_user(sync_db, tenant))
        open_ones = []
        for n in range(40):  # REALTIME_MAX_CONNECTIONS_PER_TENANT
            api = apis[n % 2]
            ws = await connect(api, host(tenant), ticket(api, headers))
            await ws.send(json.dumps({"type": "ping"}))
            assert (await receive(ws))["type"] == "pong"
            open_ones.append(ws)
        refused = await connect(apis[0], host(tenant), ticket(apis[0], headers))
        assert await closed_with(refused) == (4429, "too many connections for this workspace")
        await open_ones.pop().close()
        wait_until(lambda: redis_count(settings, tenant) == 39, timeout=10)
        again = await connect(apis[1], host(tenant), ticket(apis[1], headers))
        await again.send(json.dumps({"type": "ping"}))
        assert (await receive(again))["type"] == "pong"
        for ws in (*open_ones, again):
            await ws.close()


def metric(api, name: str) -> float:
    """A metric's value as the process's metrics port shows it."""
    text = httpx.get(api.metrics_url, timeout=5).text
    found = re.search(rf"^{name} ([0-9.e+-]+)$", text, re.M)
    assert found, f"{name} is not in the metrics"
    return float(found.group(1))


def redis_count(settings, tenant) -> int:
    """Connections of a tenant counted in Redis."""
    with redis.Redis.from_url(settings.redis_url) as client:
        return int(client.zcard(f"rt:conns:{tenant.id}"))


class TestFanOut:
    async def test_an_event_reaches_clients_on_both_processes(
        self, apis, settings, sync_db, rt_tenant, redis_client
    ):
        one, two = apis
        headers = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        clients = [await connect(api, host(rt_tenant), ticket(api, headers)) for api in (one, two, one, two)]
        for ws in clients:
            assert (await subscribe(ws, "items"))["type"] == "subscribed"
        for api in (one, two):  # each process counts its own connections in its metrics
            assert metric(api, "platform_realtime_connections") >= 2
            assert metric(api, "platform_realtime_streams") >= 1
        value = marker()
        offset = publish_sync(redis_client, rt_tenant.id, "items", "item.created", {"m": value})
        for ws in clients:
            message = await until(ws, _is_event("items", value))
            assert message == {
                "type": "event",
                "channel": "items",
                "event": "item.created",
                "data": {"m": value},
                "offset": offset,
            }
            await ws.close()

    async def test_an_item_created_over_rest_reaches_subscribers_of_both_processes(
        self, apis, settings, sync_db, rt_tenant, relay, worker
    ):
        one, two = apis
        headers = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        clients = [await connect(api, host(rt_tenant), ticket(api, headers)) for api in (one, two)]
        for ws in clients:
            await subscribe(ws, "items")
        title = f"live-{marker()}"
        created = post(one, "/api/v1/items", headers, {"title": title})
        assert created.status_code == 201
        for ws in clients:
            message = await until(
                ws, lambda m: m.get("event") == "item.created" and m["data"]["title"] == title
            )
            assert message["data"]["id"] == created.json()["id"]
            assert message["channel"] == "items"
            await ws.close()

    async def test_another_tenant_never_receives_nor_subscribes_to_these_channels(
        self, apis, settings, sync_db, rt_tenant, other_tenant, redis_client
    ):
        one, two = apis
        own = await connect(
            one, host(rt_tenant), ticket(one, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        )
        other_headers = bearer(settings, other_tenant, new_user(sync_db, other_tenant))
        others = [await connect(api, host(other_tenant), ticket(api, other_headers)) for api in (one, two)]
        for ws in (own, *others):
            assert (await subscribe(ws, "items"))["type"] == "subscribed"
        for ws in others:  # a channel name cannot name another tenant's channel
            assert (await subscribe(ws, f"items.{rt_tenant.id}"))["code"] in {"forbidden", "invalid_channel"}
        secret = marker()
        publish_sync(redis_client, rt_tenant.id, "items", "item.created", {"m": secret})
        await until(own, _is_event("items", secret))  # handed out by the process's one reader
        # The other tenant's next event is the first thing its clients receive: nothing leaked before it.
        after = marker()
        publish_sync(redis_client, other_tenant.id, "items", "item.created", {"m": after})
        for ws in others:
            assert (await receive(ws))["data"] == {"m": after}
        for ws in (own, *others):
            await ws.close()


class TestSubscriptions:
    async def test_unsubscribing_stops_the_events_and_the_answers_say_why(
        self, apis, settings, sync_db, rt_tenant, redis_client
    ):
        one, _ = apis
        user = new_user(sync_db, rt_tenant)
        ws = await connect(one, host(rt_tenant), ticket(one, bearer(settings, rt_tenant, user)))
        assert (await subscribe(ws, "items"))["type"] == "subscribed"
        assert (await subscribe(ws, "items"))["code"] == "already_subscribed"
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "items"}))
        assert await receive(ws) == {"type": "unsubscribed", "channel": "items"}
        await ws.send(json.dumps({"type": "unsubscribe", "channel": "items"}))
        assert (await receive(ws))["code"] == "not_subscribed"
        publish_sync(redis_client, rt_tenant.id, "items", "item.created", {"m": marker()})
        assert (await subscribe(ws, "jobs"))["type"] == "subscribed"
        mine = marker()
        publish_sync(redis_client, rt_tenant.id, "jobs", "job.progress", {"id": mine}, user_id=user.id)
        assert (await receive(ws))["data"] == {"id": mine}  # nothing of `items` came in between
        await ws.close()


class TestResume:
    async def test_a_client_resumes_after_its_last_offset(
        self, apis, settings, sync_db, rt_tenant, redis_client
    ):
        one, two = apis
        headers = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        ws = await connect(one, host(rt_tenant), ticket(one, headers))
        await subscribe(ws, "items")
        first = marker()
        publish_sync(redis_client, rt_tenant.id, "items", "item.created", {"m": first})
        seen = (await until(ws, _is_event("items", first)))["offset"]
        await ws.close()

        missed = [marker() for _ in range(3)]
        for value in missed:
            publish_sync(redis_client, rt_tenant.id, "items", "item.updated", {"m": value})
        again = await connect(two, host(rt_tenant), ticket(two, headers))  # on the other process
        assert (await subscribe(again, "items", offset=seen))["type"] == "subscribed"
        got = [(await receive(again))["data"]["m"] for _ in missed]
        assert got == missed
        live = marker()
        publish_sync(redis_client, rt_tenant.id, "items", "item.updated", {"m": live})
        assert (await receive(again))["data"] == {"m": live}
        await again.close()

    async def test_from_the_start_of_a_stream_that_never_lost_anything_everything_comes(
        self, apis, settings, sync_db, tenant_service, redis_client
    ):
        """A page rendered while the channel was empty resumes from `0-0`: what came since is sent."""
        one, _ = apis
        tenant = subscribed(sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="New"))
        sent = [marker() for _ in range(3)]
        for value in sent:
            publish_sync(redis_client, tenant.id, "items", "item.created", {"m": value})
        ws = await connect(
            one, host(tenant), ticket(one, bearer(settings, tenant, new_user(sync_db, tenant)))
        )
        assert (await subscribe(ws, "items", offset="0-0"))["type"] == "subscribed"
        assert [(await receive(ws))["data"]["m"] for _ in sent] == sent
        await ws.close()

    async def test_an_offset_older_than_the_history_asks_for_a_reload_then_goes_live(
        self, apis, settings, sync_db, tenant_service, redis_client
    ):
        one, _ = apis
        tenant = subscribed(sync_db, tenant_service.create(slug=f"rt-{marker()[:8]}", name="Busy"))
        first = publish_sync(redis_client, tenant.id, "items", "item.created", {"m": "first"})
        with redis_client.pipeline(transaction=False) as pipe:  # past the cap: the oldest are trimmed
            for n in range(STREAM_MAXLEN + 200):
                publish_sync(pipe, tenant.id, "items", "item.updated", {"n": n})
            pipe.execute()
        assert redis_client.xrange(f"rt:{tenant.id}:items", min=first, max=first) == []
        ws = await connect(
            one, host(tenant), ticket(one, bearer(settings, tenant, new_user(sync_db, tenant)))
        )
        assert (await subscribe(ws, "items", offset=first))["type"] == "subscribed"
        error = await receive(ws)
        assert (error["type"], error["code"], error["channel"]) == ("error", "resume_unavailable", "items")
        live = marker()
        publish_sync(redis_client, tenant.id, "items", "item.created", {"m": live})
        assert (await receive(ws))["data"] == {"m": live}
        await ws.close()


class TestJobs:
    async def test_a_report_job_started_over_rest_is_followed_live_by_its_user(
        self, apis, settings, sync_db, rt_tenant, relay, worker
    ):
        one, two = apis
        owner = new_user(sync_db, rt_tenant)
        mine = await connect(two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, owner)))
        assert (await subscribe(mine, "jobs"))["type"] == "subscribed"
        started = post(one, "/api/v1/reports", bearer(settings, rt_tenant, owner), {"kind": "items_csv"})
        assert started.status_code == 202, started.text
        job_id = started.json()["id"]
        events = await _job_events(mine, job_id)
        assert [e["event"] for e in events] == ["job.running", "job.succeeded"]
        assert events[-1]["data"]["progress"] == 100
        await mine.close()

    async def test_a_workers_job_progress_reaches_its_users_socket_only(
        self, apis, settings, sync_db, rt_tenant, relay, worker, redis_client
    ):
        _, two = apis
        owner = new_user(sync_db, rt_tenant)
        colleague = new_user(sync_db, rt_tenant)
        mine = await connect(two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, owner)))
        theirs = await connect(two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, colleague)))
        for ws in (mine, theirs):
            assert (await subscribe(ws, "jobs"))["type"] == "subscribed"
        job_id = uuid.uuid4()
        with sync_db.sync_session(rt_tenant.schema_name) as session:
            session.add(Job(id=job_id, type="probe", status="queued", params={}, user_id=owner.id))
            enqueue(
                session, "probe.job_progress", tenant_id=rt_tenant.id, job_id=str(job_id), steps=[25, 50, 75]
            )
            session.commit()
        events = await _job_events(mine, str(job_id))
        assert [(e["event"], e["data"]["progress"]) for e in events] == [
            ("job.running", 0),
            ("job.progress", 25),
            ("job.progress", 50),
            ("job.progress", 75),
            ("job.succeeded", 100),
        ]
        # The colleague's first message is the one meant for them: none of the owner's job events came.
        publish_sync(
            redis_client, rt_tenant.id, "jobs", "job.progress", {"id": "theirs"}, user_id=colleague.id
        )
        assert (await receive(theirs))["data"] == {"id": "theirs"}
        await mine.close()
        await theirs.close()


async def _job_events(ws, job_id: str) -> list[dict]:
    """A job's events on a socket, up to the one that ends it."""
    events: list[dict] = []
    while not events or events[-1]["event"] not in {"job.succeeded", "job.failed"}:
        message = await receive(ws, 30)
        if message.get("type") == "event" and message["data"].get("id") == job_id:
            events.append(message)
    return events


class TestHoldingUp:
    async def test_a_client_that_does_not_read_is_dropped_while_others_keep_receiving(
        self, apis, settings, sync_db, rt_tenant, redis_client
    ):
        one, _ = apis
        headers = bearer(settings, rt_tenant, new_user(sync_db, rt_tenant))
        fast = await connect(one, host(rt_tenant), ticket(one, headers))
        # The slow client's library stops reading the socket once it holds one message.
        slow = await connect(one, host(rt_tenant), ticket(one, headers), max_queue=1)
        for ws in (fast, slow):
            await subscribe(ws, "items")
        pad = "x" * 60_000
        values = [marker() for _ in range(120)]
        for value in values:
            publish_sync(redis_client, rt_tenant.id, "items", "item.updated", {"m": value, "pad": pad})
            got = await receive(fast)  # the fast client reads each one as it comes
            assert got["data"]["m"] == value
        code, _ = await closed_with(slow, 30)
        assert code in {4408, 1006}
        wait_until(lambda: "does not read" in one.output(), timeout=10)
        await fast.close()

    async def test_a_flood_of_messages_is_closed_with_4429(self, apis, settings, sync_db, rt_tenant):
        _, two = apis
        ws = await connect(
            two, host(rt_tenant), ticket(two, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        )
        with contextlib.suppress(websockets.ConnectionClosed):
            for _ in range(500):
                await ws.send(json.dumps({"type": "ping"}))
        assert (await closed_with(ws))[0] == 4429

    def test_a_dead_connection_is_closed_by_the_heartbeat(self, apis, settings, sync_db, rt_tenant):
        one, _ = apis
        value = ticket(one, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
        with socket.create_connection(("127.0.0.1", one.port), timeout=15) as sock:
            sock.sendall(
                (
                    f"GET /api/v1/realtime?ticket={value} HTTP/1.1\r\nHost: {host(rt_tenant)}\r\n"
                    "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            start = time.monotonic()
            received = b""
            while True:  # never answers the server's pings: closed after interval + timeout
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
            assert received.startswith(b"HTTP/1.1 101")
            assert b"\x89" in received  # the server pinged
            assert b"\x88\x18\x03\xf3keepalive ping timeout" in received  # then closed: 1011
            assert time.monotonic() - start < 10

    async def test_shutdown_closes_sockets_with_going_away(self, settings, sync_db, rt_tenant, tmp_path):
        with ApiServer(api_env(settings), tmp_path / "api.log") as api:
            ws = await connect(
                api, host(rt_tenant), ticket(api, bearer(settings, rt_tenant, new_user(sync_db, rt_tenant)))
            )
            await subscribe(ws, "items")
            api.process.terminate()
            assert await closed_with(ws) == (1001, "going away")
