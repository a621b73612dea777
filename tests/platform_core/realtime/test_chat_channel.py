"""Chat rooms over the socket, as assembled: a room's members subscribe to `chat.<room id>` on either API
process, a message posted over REST reaches them through the outbox, the relay and a worker, typing
indicators go to the other members, and nobody outside the room (or the tenant) gets anything."""

from __future__ import annotations

import json
import uuid

import pytest

from tests.conftest import subscribed
from tests.platform_core.realtime.support import (
    bearer,
    connect,
    host,
    marker,
    new_user,
    post,
    receive,
    subscribe,
    ticket,
    until,
)


@pytest.fixture(scope="module")
def chat_tenant(tenant_service, sync_db):
    """A committed tenant of these tests."""
    return subscribed(sync_db, tenant_service.create(slug=f"chat-{marker()[:8]}", name="Chat"))


async def test_a_rooms_members_get_its_messages_and_typing_and_no_one_else_does(
    apis, settings, sync_db, chat_tenant, tenant_b, relay, worker
):
    one, two = apis
    alice, bob, eve = (new_user(sync_db, chat_tenant, role="member") for _ in range(3))
    stranger = new_user(sync_db, tenant_b)
    as_alice = bearer(settings, chat_tenant, alice)
    room = post(one, "/api/v1/chat/rooms", as_alice, {"name": f"launch-{marker()[:6]}"})
    assert room.status_code == 201, room.text
    room_id = room.json()["id"]
    added = post(one, f"/api/v1/chat/rooms/{room_id}/members", as_alice, {"user_id": str(bob.id)})
    assert added.status_code == 204, added.text
    channel = f"chat.{room_id}"

    bobs = await connect(two, host(chat_tenant), ticket(two, bearer(settings, chat_tenant, bob)))
    alices = await connect(one, host(chat_tenant), ticket(one, as_alice))
    for ws in (bobs, alices):
        assert (await subscribe(ws, channel))["type"] == "subscribed"
    eves = await connect(two, host(chat_tenant), ticket(two, bearer(settings, chat_tenant, eve)))
    refused = await subscribe(eves, channel)
    assert (refused["type"], refused["channel"]) == ("error", channel)
    others = await connect(one, host(tenant_b), ticket(one, bearer(settings, tenant_b, stranger)))
    assert (await subscribe(others, channel))["type"] == "error"

    sent = post(one, f"/api/v1/chat/rooms/{room_id}/messages", as_alice, {"body": "Shipping at noon"})
    assert sent.status_code == 201, sent.text
    for ws in (bobs, alices):
        event = await until(ws, lambda m: m.get("type") == "event" and m.get("event") == "message.created")
        assert event["channel"] == channel
        assert event["data"]["body"] == "Shipping at noon"
        assert event["offset"]

    await alices.send(json.dumps({"type": "publish", "channel": channel, "event": "typing", "data": {}}))
    typing = await until(bobs, lambda m: m.get("type") == "event" and m["event"].startswith("client."))
    assert typing["data"]["user_id"] == str(alice.id)
    assert typing["offset"] is None  # ephemeral: never stored, never replayed

    # Nothing of the room reached the member who is not in it, nor the other tenant's user.
    for ws in (eves, others):
        await ws.send(json.dumps({"type": "ping"}))
        assert (await receive(ws))["type"] == "pong"
    for ws in (bobs, alices, eves, others):
        await ws.close()


async def test_a_malformed_or_unknown_room_is_refused(apis, settings, sync_db, chat_tenant):
    _, two = apis
    user = new_user(sync_db, chat_tenant)
    ws = await connect(two, host(chat_tenant), ticket(two, bearer(settings, chat_tenant, user)))
    for channel in (f"chat.{uuid.uuid4()}", "chat.not-a-room"):
        answer = await subscribe(ws, channel)
        assert (answer["type"], answer["channel"]) == ("error", channel)
    await ws.close()


async def test_a_message_sent_over_the_socket_is_stored_once_acknowledged_and_delivered(
    apis, settings, sync_db, chat_tenant, relay, worker
):
    one, two = apis
    alice, bob, viewer = (new_user(sync_db, chat_tenant, role=r) for r in ("member", "member", "viewer"))
    as_alice = bearer(settings, chat_tenant, alice)
    room_id = post(one, "/api/v1/chat/rooms", as_alice, {"name": f"ops-{marker()[:6]}"}).json()["id"]
    for user in (bob, viewer):
        assert (
            post(
                one, f"/api/v1/chat/rooms/{room_id}/members", as_alice, {"user_id": str(user.id)}
            ).status_code
            == 204
        )
    channel = f"chat.{room_id}"
    bobs = await connect(two, host(chat_tenant), ticket(two, bearer(settings, chat_tenant, bob)))
    assert (await subscribe(bobs, channel))["type"] == "subscribed"
    alices = await connect(one, host(chat_tenant), ticket(one, as_alice))

    send = {
        "type": "publish",
        "channel": channel,
        "event": "message",
        "data": {"body": "Deploying", "ref": "c-1"},
    }
    await alices.send(json.dumps(send))
    ack = await until(alices, lambda m: m.get("type") == "published")
    assert (ack["channel"], ack["ref"]) == (channel, "c-1")
    await alices.send(json.dumps(send))  # the acknowledgement was lost: the client sends it again
    again = await until(alices, lambda m: m.get("type") == "published")
    assert again["id"] == ack["id"]
    event = await until(bobs, lambda m: m.get("type") == "event" and m.get("event") == "message.created")
    assert (event["data"]["id"], event["data"]["body"]) == (ack["id"], "Deploying")
    history = httpx_get(one, f"/api/v1/chat/rooms/{room_id}/messages", as_alice)
    assert [m["body"] for m in history["items"]] == ["Deploying"]  # stored once

    blank = {**send, "data": {"body": "   "}}
    await alices.send(json.dumps(blank))
    error = await until(alices, lambda m: m.get("type") == "error")
    assert (error["code"], error["channel"]) == ("chat_message_invalid", channel)
    viewers = await connect(two, host(chat_tenant), ticket(two, bearer(settings, chat_tenant, viewer)))
    await viewers.send(json.dumps({**send, "data": {"body": "hi"}}))
    refused = await until(viewers, lambda m: m.get("type") == "error")
    assert refused["code"] == "permission_denied"
    for ws in (alices, bobs, viewers):
        await ws.close()


def httpx_get(api, path, headers):
    """A GET to one API process, as JSON."""
    import httpx

    answer = httpx.get(f"{api.url}{path}", headers=headers, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()
