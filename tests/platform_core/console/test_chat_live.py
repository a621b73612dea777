"""A chat room's page follows the room live: the page says where to get a realtime ticket and from which
stream position to resume, the ticket route sits behind the room page's gate and CSRF, and only the
room's members get one (anyone else, and another tenant's room, is the 404 page)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import select

from platform_core.chat.models import ChatMessage, ChatRoom, ChatRoomMember
from platform_core.kernel.realtime import stream_key
from platform_core.realtime import tickets
from tests.conftest import client_for, host_of
from tests.factories import create_role, create_user
from tests.platform_core.console.data_support import signed_in_as, token
from tests.platform_core.console.support import console_sign_in


@pytest.fixture
async def alice(app, db, tenant_a) -> Any:
    """A member of alpha, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "member") as client:
        yield client
    await app.state.realtime_hub.redis.aclose()


async def _room(db, tenant, creator, *members, name: str = "general") -> ChatRoom:
    room = ChatRoom(id=uuid.uuid4(), name=name, topic="", created_by_id=creator.id)
    async with db.session(tenant.schema_name) as session:
        session.add(room)
        await session.flush()
        for user in (creator, *members):
            session.add(ChatRoomMember(room_id=room.id, user_id=user.id))
        await session.commit()
    return room


async def test_a_member_gets_a_ticket_for_the_rooms_channel(app, alice, db, tenant_a, settings):
    room = await _room(db, tenant_a, alice.user)
    streams = aioredis.Redis.from_url(settings.redis_url)
    try:
        entry = await streams.xadd(stream_key(tenant_a.id, f"chat.{room.id}"), {"event": "x", "data": "{}"})
    finally:
        await streams.aclose()
    page = await alice.get(f"/chat/{room.id}")
    assert page.status_code == 200
    assert f'data-chat-live="/chat/{room.id}/live"' in page.text
    assert f'data-chat-channel="chat.{room.id}"' in page.text
    assert f'data-chat-offset="{entry.decode()}"' in page.text  # resumes after what the page read
    assert "chat.js" in page.text
    assert "Reload this page</a> to see new messages." in page.text  # without script
    answer = await alice.post(f"/chat/{room.id}/live", data={"csrf_token": await token(alice)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["channel"] == f"chat.{room.id}"
    claims = await tickets.claim(app.state.realtime_hub.redis, body["ticket"])
    assert claims is not None
    assert (claims.tenant_id, claims.user_id, claims.kind) == (str(tenant_a.id), str(alice.user.id), "user")
    assert claims.session_id is not None  # the console session: signing out ends the socket too


async def test_an_empty_stream_starts_at_its_beginning_and_older_pages_are_not_live(alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    page = (await alice.get(f"/chat/{room.id}")).text
    assert 'data-chat-offset="0-0"' in page
    async with db.session(tenant_a.schema_name) as session:
        for body in ("first", "second"):
            session.add(ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=alice.user.id, body=body))
            await session.flush()
        await session.commit()
        second = await session.scalar(select(ChatMessage.id).where(ChatMessage.body == "second"))
    older = (await alice.get(f"/chat/{room.id}?before={second}")).text
    assert "first" in older
    assert "data-chat-live" not in older  # an older page stays as it is
    assert "data-chat-live" in (await alice.get(f"/chat/{room.id}?before=garbage")).text  # the latest


async def test_the_ticket_needs_the_csrf_token(alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    assert (await alice.post(f"/chat/{room.id}/live", data={})).status_code == 403
    assert (await alice.post(f"/chat/{room.id}/live", data={"csrf_token": "forged"})).status_code == 403


async def test_a_non_member_and_another_tenants_room_is_the_404_page(
    app, alice, db, tenant_a, tenant_b, owner_b
):
    async with signed_in_as(app, db, tenant_a, "member") as bob:
        private = await _room(db, tenant_a, bob.user, name="private")
    elsewhere = await _room(db, tenant_b, owner_b, name="beta secret")
    for room in (private, elsewhere):
        refused = await alice.post(f"/chat/{room.id}/live", data={"csrf_token": await token(alice)})
        assert refused.status_code == 404
        assert "beta secret" not in refused.text
        assert "ticket" not in refused.text
        assert (await alice.get(f"/chat/{room.id}/names?id={alice.user.id}")).status_code == 404
    unknown = await alice.post(f"/chat/{uuid.uuid4()}/live", data={"csrf_token": await token(alice)})
    assert unknown.status_code == 404


async def test_a_manager_who_is_not_in_the_room_sees_it_but_does_not_follow_it(app, alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    async with signed_in_as(app, db, tenant_a, "admin") as admin:
        page = await admin.get(f"/chat/{room.id}")
        assert page.status_code == 200
        assert "data-chat-live" not in page.text
        refused = await admin.post(f"/chat/{room.id}/live", data={"csrf_token": await token(admin)})
        assert refused.status_code == 404


async def test_a_role_without_chat_read_gets_no_ticket(app, db, tenant_a, owner_a):
    role = await create_role(db, tenant_a, "no chat", ["items:read"])
    user = await create_user(db, tenant_a, role_id=role.id)
    room = await _room(db, tenant_a, owner_a, user)
    async with client_for(app, host_of(tenant_a)) as client:
        assert (await console_sign_in(client, user.email)).status_code == 303
        refused = await client.post(f"/chat/{room.id}/live", data={"csrf_token": await token(client)})
        assert refused.status_code == 403
        assert (await client.get(f"/chat/{room.id}/names?id={owner_a.id}")).status_code == 403
    await app.state.realtime_hub.redis.aclose()


async def test_names_of_the_rooms_members_only(app, alice, db, tenant_a):
    outsider = await create_user(db, tenant_a, role="member")
    async with signed_in_as(app, db, tenant_a, "viewer") as carol:
        room = await _room(db, tenant_a, alice.user, carol.user)
        asked = f"/chat/{room.id}/names?id={carol.user.id}&id={outsider.id}&id=garbage"
        names = (await carol.get(asked)).json()
    assert names == {str(carol.user.id): carol.user.full_name or carol.user.email}


async def test_a_viewer_follows_but_does_not_send_typing(app, alice, db, tenant_a):
    async with signed_in_as(app, db, tenant_a, "viewer") as viewer:
        room = await _room(db, tenant_a, alice.user, viewer.user)
        page = (await viewer.get(f"/chat/{room.id}")).text
        assert "data-chat-live" in page
        assert "data-chat-may-write" not in page
    member_page = (await alice.get(f"/chat/{room.id}")).text
    assert re.search(r"data-chat-may-write", member_page)
