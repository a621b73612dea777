"""Chat and realtime: every change writes its event for `chat.<room_id>` (with an outbox task) in the
request's transaction; the publisher puts a room's events on its Redis stream in order and forgets them;
`can_subscribe` answers for the realtime server."""

from __future__ import annotations

import json
import uuid

import pytest
import redis as sync_redis
from sqlalchemy import func, select

from platform_core.access.permissions import BUILTIN_ROLES, Permission
from platform_core.access.principal import Principal, PrincipalKind
from platform_core.chat.models import ChatEvent
from platform_core.chat.service import PUBLISH_TASK, can_subscribe
from platform_core.chat.tasks import publish_pending
from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.realtime import stream_key
from tests.platform_core.chat.conftest import add, make_room, post

ROOMS = "/api/v1/chat/rooms"


@pytest.fixture
def redis_client(settings):
    """A sync Redis client on the test worker's Redis (the one the app publishes to)."""
    client = sync_redis.Redis.from_url(settings.redis_url)
    yield client
    client.close()


async def _publish(db, tenant, room_id: str, redis_client) -> int:
    async with db.session(tenant.schema_name) as session:
        count = await session.run_sync(publish_pending, tenant.id, uuid.UUID(room_id), redis_client)
        await session.commit()
        return int(count)


def _stream(redis_client, tenant, room_id: str) -> list[tuple[str, dict]]:
    entries = redis_client.xrange(stream_key(tenant.id, f"chat.{room_id}"))
    return [(fields[b"event"].decode(), json.loads(fields[b"data"])) for _, fields in entries]


async def test_changes_reach_the_rooms_stream_in_order_once_published(users, db, tenant_a, redis_client):
    alice, client = await users("member")
    bob, _ = await users("member")
    room = await make_room(client)
    rid = room["id"]
    message = (await post(client, room, "hello")).json()
    path = f"{ROOMS}/{rid}/messages/{message['id']}"
    assert (await client.patch(path, json={"body": "hello, edited"})).status_code == 200
    assert (await client.delete(path)).status_code == 204
    await add(client, room, bob)
    assert (await client.delete(f"{ROOMS}/{rid}/members/{bob.id}")).status_code == 204
    assert (await client.patch(f"{ROOMS}/{rid}", json={"name": "renamed"})).status_code == 200
    assert (await client.post(f"{ROOMS}/{rid}/archive")).status_code == 200
    assert (await client.post(f"{ROOMS}/{rid}/unarchive")).status_code == 200
    assert _stream(redis_client, tenant_a, rid) == []  # nothing is published by the request itself
    async with db.session(tenant_a.schema_name) as session:
        tasks = list(
            await session.scalars(select(OutboxMessage.kwargs).where(OutboxMessage.task_name == PUBLISH_TASK))
        )
    assert {"room_id": rid, "tenant_id": str(tenant_a.id)} in tasks

    assert await _publish(db, tenant_a, rid, redis_client) == 9
    events = _stream(redis_client, tenant_a, rid)
    assert [e for e, _ in events] == [
        "room.created",
        "message.created",
        "message.updated",
        "message.deleted",
        "member.added",
        "member.removed",
        "room.updated",
        "room.archived",
        "room.unarchived",
    ]
    data = dict(events)
    assert data["message.created"]["body"] == "hello"
    assert data["message.created"]["author_id"] == str(alice.id)
    assert data["message.updated"]["body"] == "hello, edited"
    assert data["message.deleted"] == data["message.deleted"] | {"id": message["id"], "body": None}
    assert data["message.deleted"]["deleted_at"] is not None
    assert data["member.added"] == {"room_id": rid, "user_id": str(bob.id)}
    assert data["room.updated"]["name"] == "renamed"
    async with db.session(tenant_a.schema_name) as session:
        left = await session.scalar(
            select(func.count()).select_from(ChatEvent).where(ChatEvent.room_id == uuid.UUID(rid))
        )
    assert left == 0
    assert await _publish(db, tenant_a, rid, redis_client) == 0  # published once
    redis_client.delete(stream_key(tenant_a.id, f"chat.{rid}"))


async def test_a_refused_change_publishes_nothing(users, db, tenant_a, redis_client):
    _, client = await users("member")
    room = await make_room(client)
    await _publish(db, tenant_a, room["id"], redis_client)
    assert (await post(client, room, "x" * 4001)).status_code == 422
    assert (await client.post(f"{ROOMS}/{room['id']}/archive")).status_code == 200
    assert (await post(client, room, "into an archived room")).status_code == 409
    assert await _publish(db, tenant_a, room["id"], redis_client) == 1  # the archiving only
    assert [e for e, _ in _stream(redis_client, tenant_a, room["id"])] == ["room.created", "room.archived"]
    redis_client.delete(stream_key(tenant_a.id, f"chat.{room['id']}"))


async def test_rooms_of_two_tenants_are_two_streams(client_a, client_b, db, tenant_a, tenant_b, redis_client):
    room_a = await make_room(client_a, "alpha")
    room_b = await make_room(client_b, "beta")
    await post(client_a, room_a, "alpha only")
    await _publish(db, tenant_a, room_a["id"], redis_client)
    await _publish(db, tenant_b, room_b["id"], redis_client)
    assert "alpha only" in json.dumps(_stream(redis_client, tenant_a, room_a["id"]))
    assert "alpha only" not in json.dumps(_stream(redis_client, tenant_b, room_b["id"]))
    # Publishing tenant beta's events for alpha's room id finds nothing in beta's schema.
    assert await _publish(db, tenant_b, room_a["id"], redis_client) == 0
    assert _stream(redis_client, tenant_b, room_a["id"]) == []
    for tenant, room in ((tenant_a, room_a), (tenant_b, room_b)):
        redis_client.delete(stream_key(tenant.id, f"chat.{room['id']}"))


def _principal(user, tenant, permissions=BUILTIN_ROLES["member"]) -> Principal:
    return Principal(
        kind=PrincipalKind.USER,
        user_id=user.id,
        email=user.email,
        permissions=frozenset(permissions),
        role="member",
        tenant_id=tenant.id,
    )


async def test_can_subscribe(users, db, tenant_a, tenant_b, client_b, owner_a):
    alice, client = await users("member")
    bob, _ = await users("member")
    viewer, _ = await users("viewer")
    room = await make_room(client)
    await add(client, room, viewer)
    beta_room = await make_room(client_b)
    rid = room["id"]
    async with db.session(tenant_a.schema_name) as session:
        assert await can_subscribe(session, _principal(alice, tenant_a), rid) is True
        assert (
            await can_subscribe(session, _principal(viewer, tenant_a, BUILTIN_ROLES["viewer"]), rid) is True
        )
        assert await can_subscribe(session, _principal(bob, tenant_a), rid) is False  # not a member
        owner = _principal(owner_a, tenant_a, BUILTIN_ROLES["owner"])
        assert await can_subscribe(session, owner, rid) is False  # sees the room, but is not in it
        without_read = BUILTIN_ROLES["member"] - {Permission.CHAT_READ}
        assert await can_subscribe(session, _principal(alice, tenant_a, without_read), rid) is False
        for garbage in ("", "not-a-uuid", str(uuid.uuid4()), rid + "x", "../" + rid):
            assert await can_subscribe(session, _principal(alice, tenant_a), garbage) is False
        # Another tenant's room, seen from alpha's schema: unknown.
        assert await can_subscribe(session, _principal(alice, tenant_a), beta_room["id"]) is False
    assert (await client.post(f"{ROOMS}/{rid}/archive")).status_code == 200
    async with db.session(tenant_a.schema_name) as session:
        assert await can_subscribe(session, _principal(alice, tenant_a), rid) is True  # archived: still
    assert (await client.delete(f"{ROOMS}/{rid}/members/{alice.id}")).status_code == 204
    async with db.session(tenant_a.schema_name) as session:
        assert await can_subscribe(session, _principal(alice, tenant_a), rid) is False  # left


async def test_send_message_applies_the_rules_of_a_rest_post(users, db, tenant_a, redis_client):
    from pydantic import ValidationError

    from platform_core.access.dependencies import PermissionDenied
    from platform_core.chat.exceptions import RoomArchived, RoomNotFound
    from platform_core.chat.service import send_message

    alice, client = await users("member")
    bob, _ = await users("member")
    viewer, _ = await users("viewer")
    room = await make_room(client)
    await add(client, room, viewer)
    rid = room["id"]
    async with db.session(tenant_a.schema_name) as session:
        message = await send_message(session, _principal(alice, tenant_a), rid, "over the socket")
        await session.commit()
    assert message.body == "over the socket"
    history = (await client.get(f"{ROOMS}/{rid}/messages")).json()["items"]
    assert [m["body"] for m in history] == ["over the socket"]
    async with db.session(tenant_a.schema_name) as session:
        with pytest.raises(PermissionDenied):
            await send_message(session, _principal(viewer, tenant_a, BUILTIN_ROLES["viewer"]), rid, "no")
        for garbage in (str(uuid.uuid4()), "nope"):
            with pytest.raises(RoomNotFound):
                await send_message(session, _principal(alice, tenant_a), garbage, "lost")
        with pytest.raises(RoomNotFound):
            await send_message(session, _principal(bob, tenant_a), rid, "not a member")
        for body in ("", "  ", "x" * 4001):
            with pytest.raises(ValidationError):
                await send_message(session, _principal(alice, tenant_a), rid, body)
    assert (await client.post(f"{ROOMS}/{rid}/archive")).status_code == 200
    async with db.session(tenant_a.schema_name) as session:
        with pytest.raises(RoomArchived):
            await send_message(session, _principal(alice, tenant_a), rid, "too late")
    await _publish(db, tenant_a, rid, redis_client)
    events = _stream(redis_client, tenant_a, rid)
    assert [e for e, _ in events] == ["room.created", "member.added", "message.created", "room.archived"]
    redis_client.delete(stream_key(tenant_a.id, f"chat.{rid}"))
