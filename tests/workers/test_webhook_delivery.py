"""Webhooks end to end: a change through the API, the outbox, the relay, a real worker, and a real HTTP
receiver on loopback that verifies the signature with the `standardwebhooks` library. Retries, order,
Retry-After, 410, redelivery, replay, and one hanging endpoint that does not delay another."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select
from standardwebhooks.webhooks import Webhook

from platform_core.audit.models import AuditEvent
from platform_core.kernel.outbox import OutboxMessage
from platform_core.webhooks.models import WebhookEndpoint
from tests.conftest import owner_client
from tests.support.processes import WorkerProcess, wait_until
from tests.support.receiver import Answer, Receiver, receiver

TIMEOUT = 3.0
WORKER_ENV = {
    "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",
    "WEBHOOK_RETRY_SCHEDULE": "1,1,1,1,1,1",
    "WEBHOOK_TIMEOUT_SECONDS": str(TIMEOUT),
    "WEBHOOK_DISABLE_AFTER_FAILURES": "0",
}


@pytest.fixture(scope="module")
def hooks(worker_env: dict[str, str], celery: Any, tmp_path_factory: Any) -> Iterator[WorkerProcess]:
    """A worker with three slots, short retries, and loopback targets allowed."""
    process = WorkerProcess(
        worker_env, "hooks", tmp_path_factory.mktemp("hooks") / "w.log", WORKER_ENV, concurrency=3
    )
    process.wait_ready(celery)
    yield process
    process.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[Receiver]:
    """The tenant's receiver."""
    with receiver() as running:
        yield running


@pytest.fixture
async def client(live_app, settings, sync_db, live_tenant, private_targets, relay, hooks) -> Any:
    """The live tenant's owner, with the relay and the webhook worker running."""
    async with owner_client(live_app, settings, sync_db, live_tenant) as signed:
        yield signed


async def _endpoint(client: Any, url: str, events: list[str]) -> dict[str, Any]:
    response = await client.post("/api/v1/webhook-endpoints", json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def _item(client: Any, title: str) -> dict[str, Any]:
    response = await client.post("/api/v1/items", json={"title": title})
    assert response.status_code == 201, response.text
    return dict(response.json())


def _verified(secret: str, request: Any) -> dict[str, Any]:
    payload: dict[str, Any] = Webhook(secret).verify(request.body, request.headers)
    return payload


def _path() -> str:
    return f"/hook/{uuid.uuid4().hex[:8]}"


async def test_an_item_created_arrives_signed_and_the_log_shows_it(client, server):
    path = _path()
    endpoint = await _endpoint(client, server.url(path), ["item.created"])
    item = await _item(client, "Signed delivery")

    [request] = wait_until(lambda: server.got(path))
    payload = _verified(endpoint["secret"], request)
    assert payload["type"] == "item.created"
    assert payload["data"]["id"] == item["id"]
    assert payload["data"]["title"] == "Signed delivery"
    assert request.headers["webhook-id"].startswith("msg_")
    assert request.headers["content-type"] == "application/json"

    [delivery] = await wait_async(
        lambda: client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries")
    )
    assert delivery["event_type"] == "item.created"
    assert delivery["attempts"] == 1
    assert delivery["response_status"] == 200
    assert delivery["response_body"] == '{"ok": true}'
    assert delivery["event_id"] == request.headers["webhook-id"]


async def wait_async(fetch: Any, limit: float = 30.0) -> list[dict[str, Any]]:
    """Poll the delivery log until every delivery in it is settled; its items."""
    deadline = time.monotonic() + limit
    while True:
        items = (await fetch()).json()["items"]
        if items and all(d["status"] != "pending" for d in items):
            return list(items)
        if time.monotonic() > deadline:
            raise AssertionError(f"deliveries not settled within {limit}s: {items}")
        await _pause()


async def _pause() -> None:
    await asyncio.sleep(0.1)


async def test_a_failing_delivery_is_retried_and_later_events_keep_their_order(client, server):
    path = _path()
    server.script(path, Answer(500), Answer(502), Answer(200))
    endpoint = await _endpoint(client, server.url(path), ["item.created"])
    for title in ("first", "second", "third"):
        await _item(client, title)

    wait_until(lambda: len(server.got(path)) >= 5)
    titles = [json.loads(r.body)["data"]["title"] for r in server.got(path)]
    assert titles == ["first", "first", "first", "second", "third"]
    ids = [r.headers["webhook-id"] for r in server.got(path)]
    assert ids[0] == ids[1] == ids[2]  # the same message, retried
    log = await wait_async(lambda: client.get(f"/api/v1/webhook-endpoints/{endpoint['id']}/deliveries"))
    assert [(d["attempts"], d["status"]) for d in log] == [
        (1, "succeeded"),
        (1, "succeeded"),
        (3, "succeeded"),
    ]


async def test_retry_after_of_a_429_is_honoured(client, server):
    path = _path()
    server.script(path, Answer(429, headers={"Retry-After": "3"}), Answer(200))
    await _endpoint(client, server.url(path), ["item.created"])
    await _item(client, "throttled")
    first, second = wait_until(lambda: server.got(path) if len(server.got(path)) >= 2 else None)
    assert second.at - first.at >= 2.5  # the schedule alone would have retried after about a second


async def test_410_gone_disables_the_endpoint_audits_it_and_tells_the_admins(
    client, server, sync_db, live_tenant
):
    path = _path()
    server.script(path, Answer(410))
    endpoint = await _endpoint(client, server.url(path), ["item.created"])
    await _item(client, "gone")

    def disabled() -> WebhookEndpoint | None:
        with sync_db.sync_session(live_tenant.schema_name) as session:
            row = session.get(WebhookEndpoint, uuid.UUID(endpoint["id"]))
            return row if row is not None and not row.enabled else None

    row = wait_until(disabled)
    assert row.disabled_reason == "the endpoint answered 410 Gone"
    with sync_db.sync_session(live_tenant.schema_name) as session:
        audited = session.execute(
            select(AuditEvent).where(
                AuditEvent.action == "webhook.endpoint_disabled", AuditEvent.target_id == endpoint["id"]
            )
        ).scalar_one()
        assert audited.actor_type == "system"
    with sync_db.sync_session() as session:
        mails = session.execute(
            select(OutboxMessage.kwargs).where(OutboxMessage.task_name == "email.send")
        ).scalars()
        assert any(
            m["template"] == "webhook_disabled" and server.url(path) in str(m["context"]) for m in mails
        )
    assert len(server.got(path)) == 1  # nothing more is sent to a disabled endpoint
    await _item(client, "after")
    assert len(server.got(path)) == 1


async def test_failed_deliveries_are_redelivered_and_replayed(client, server):
    path = _path()
    server.script(path, *[Answer(500)] * 7, Answer(200))  # 1 attempt + 6 retries fail
    endpoint = await _endpoint(client, server.url(path), ["item.created"])
    await _item(client, "fails")
    base = f"/api/v1/webhook-endpoints/{endpoint['id']}"
    [failed] = await wait_async(lambda: client.get(f"{base}/deliveries"))
    assert failed["status"] == "failed"
    assert failed["attempts"] == 7
    assert failed["response_status"] == 500

    again = await client.post(f"{base}/deliveries/{failed['id']}/redeliver")
    assert again.status_code == 202
    [done] = await wait_async(lambda: client.get(f"{base}/deliveries"))
    assert done["status"] == "succeeded"
    assert done["attempts"] == 8

    server.script(path, *[Answer(500)] * 7, Answer(200))
    await _item(client, "fails again")
    await wait_async(lambda: client.get(f"{base}/deliveries?status=failed"))
    replay = await client.post(f"{base}/replay", json={"since": "2020-01-01T00:00:00Z"})
    assert replay.json() == {"requeued": 1}
    settled = await wait_async(lambda: client.get(f"{base}/deliveries"))
    assert {d["status"] for d in settled} == {"succeeded"}


async def test_the_test_event_goes_to_one_endpoint_only(client, server):
    one, other = _path(), _path()
    first = await _endpoint(client, server.url(one), ["webhook.test"])
    await _endpoint(client, server.url(other), ["webhook.test"])
    sent = await client.post(f"/api/v1/webhook-endpoints/{first['id']}/test")
    assert sent.status_code == 202
    [request] = wait_until(lambda: server.got(one))
    assert _verified(first["secret"], request)["data"]["endpoint_id"] == first["id"]
    assert server.got(other) == []


async def test_after_a_rotation_both_secrets_verify(client, server):
    path = _path()
    endpoint = await _endpoint(client, server.url(path), ["item.created"])
    rotated = (await client.post(f"/api/v1/webhook-endpoints/{endpoint['id']}/rotate-secret")).json()
    await _item(client, "rotated")
    [request] = wait_until(lambda: server.got(path))
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    assert _verified(rotated["secret"], request)["type"] == "item.created"
    assert _verified(endpoint["secret"], request)["type"] == "item.created"


async def test_a_hanging_endpoint_does_not_delay_another(client, server):
    slow, fast = _path(), _path()
    server.script(slow, Answer(200, delay=TIMEOUT + 5))
    await _endpoint(client, server.url(slow), ["item.created"])
    await _endpoint(client, server.url(fast), ["item.created"])
    await _item(client, "one")
    [hung] = wait_until(lambda: server.got(slow))
    [quick] = wait_until(lambda: server.got(fast))
    assert quick.at - hung.at < TIMEOUT  # delivered while the other endpoint's attempt was still hanging
