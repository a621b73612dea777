"""The console's chat pages over HTTP: the rooms, a room's history, posting and deleting with plain forms,
who may do what, bad input, and other tenants' rooms."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.chat.models import ChatEvent, ChatMessage, ChatRoom, ChatRoomMember
from tests.platform_core.console.data_support import error_of, signed_in_as, token
from tests.platform_core.console.support import nonce_of


@pytest.fixture
async def alice(app, db, tenant_a) -> Any:
    """A member of alpha, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "member") as client:
        yield client


async def _room(db, tenant, creator, name: str = "general", *members) -> ChatRoom:
    room = ChatRoom(id=uuid.uuid4(), name=name, topic=f"{name} topic", created_by_id=creator.id)
    async with db.session(tenant.schema_name) as session:
        session.add(room)
        await session.flush()
        for user in (creator, *members):
            session.add(ChatRoomMember(room_id=room.id, user_id=user.id))
        await session.commit()
    return room


async def _messages(db, tenant, room_id) -> list[ChatMessage]:
    async with db.session(tenant.schema_name) as session:
        stmt = select(ChatMessage).where(ChatMessage.room_id == room_id).order_by(ChatMessage.seq)
        return list(await session.scalars(stmt))


async def test_create_a_room_post_and_read_it(alice, db, tenant_a):
    page = await alice.get("/chat")
    assert page.status_code == 200
    assert 'href="/chat"' in page.text  # the nav link
    data = {"csrf_token": await token(alice, "/chat"), "form_nonce": nonce_of(page.text), "name": " lunch "}
    created = await alice.post("/chat", data=data)
    assert created.status_code == 303
    async with db.session(tenant_a.schema_name) as session:
        room = (await session.scalars(select(ChatRoom).where(ChatRoom.name == "lunch"))).one()
    assert created.headers["location"] == f"/chat/{room.id}"
    again = await alice.post("/chat", data=data)  # the same form twice: one room
    assert again.status_code == 303
    async with db.session(tenant_a.schema_name) as session:
        assert len(list(await session.scalars(select(ChatRoom).where(ChatRoom.name == "lunch")))) == 1

    room_page = await alice.get(f"/chat/{room.id}")
    assert room_page.status_code == 200
    assert "No messages yet." in room_page.text
    sent = await alice.post(
        f"/chat/{room.id}/messages",
        data={
            "csrf_token": await token(alice, f"/chat/{room.id}"),
            "form_nonce": nonce_of(room_page.text),
            "body": "Pizza <at> noon?",
        },
    )
    assert sent.status_code == 303
    assert sent.headers["location"] == f"/chat/{room.id}"
    [message] = await _messages(db, tenant_a, room.id)
    assert (message.body, message.author_id) == ("Pizza <at> noon?", alice.user.id)
    shown = await alice.get(f"/chat/{room.id}")
    assert "Pizza &lt;at&gt; noon?" in shown.text
    async with db.session(tenant_a.schema_name) as session:  # the page publishes as the API does
        events = list(await session.scalars(select(ChatEvent.event).where(ChatEvent.room_id == room.id)))
    assert events == ["room.created", "message.created"]
    listed = await alice.get("/chat")
    assert f'href="/chat/{room.id}"' in listed.text


async def test_bad_input_shows_the_form_again(alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    for body, expected in (("   ", "text"), ("x" * 4001, "4000")):
        html = (await alice.get(f"/chat/{room.id}")).text
        response = await alice.post(
            f"/chat/{room.id}/messages", data={"csrf_token": await token(alice), "body": body}
        )
        assert response.status_code == 422
        assert expected in error_of(response.text, "body")
        assert html  # the page was shown before
    assert await _messages(db, tenant_a, room.id) == []
    bad_room = await alice.post("/chat", data={"csrf_token": await token(alice), "name": ""})
    assert bad_room.status_code == 422
    assert error_of(bad_room.text, "name")


async def test_delete_ones_own_message_only(app, alice, db, tenant_a):
    async with signed_in_as(app, db, tenant_a, "member") as bob:
        room = await _room(db, tenant_a, alice.user, "general", bob.user)
        async with db.session(tenant_a.schema_name) as session:
            mine = ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=alice.user.id, body="mine")
            theirs = ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=bob.user.id, body="theirs")
            session.add_all([mine, theirs])
            await session.commit()
        page = await alice.get(f"/chat/{room.id}")
        assert f"/chat/{room.id}/messages/{mine.id}/delete" in page.text
        assert f"/chat/{room.id}/messages/{theirs.id}/delete" not in page.text
        refused = await alice.post(
            f"/chat/{room.id}/messages/{theirs.id}/delete", data={"csrf_token": await token(alice)}
        )
        assert refused.status_code == 403
        deleted = await alice.post(
            f"/chat/{room.id}/messages/{mine.id}/delete", data={"csrf_token": await token(alice)}
        )
        assert deleted.status_code == 303
        rows = {m.id: m.body for m in await _messages(db, tenant_a, room.id)}
        assert rows == {mine.id: None, theirs.id: "theirs"}
        assert "This message was deleted." in (await bob.get(f"/chat/{room.id}")).text


async def test_a_viewer_reads_without_a_form_and_cannot_post(app, alice, db, tenant_a):
    async with signed_in_as(app, db, tenant_a, "viewer") as viewer:
        room = await _room(db, tenant_a, alice.user, "general", viewer.user)
        page = await viewer.get(f"/chat/{room.id}")
        assert page.status_code == 200
        assert f'action="/chat/{room.id}/messages"' not in page.text
        assert "New room" not in (await viewer.get("/chat")).text
        refused = await viewer.post(
            f"/chat/{room.id}/messages", data={"csrf_token": await token(viewer), "body": "hi"}
        )
        assert refused.status_code == 403
        assert await _messages(db, tenant_a, room.id) == []


async def test_a_role_without_chat_sees_no_link_and_gets_403(app, db, tenant_a):
    from tests.conftest import client_for, host_of
    from tests.factories import create_role, create_user
    from tests.platform_core.console.support import console_sign_in

    role = await create_role(db, tenant_a, "no chat", ["items:read"])
    user = await create_user(db, tenant_a, role_id=role.id)
    async with client_for(app, host_of(tenant_a)) as client:
        await console_sign_in(client, user.email)
        assert 'href="/chat"' not in (await client.get("/")).text
        assert (await client.get("/chat")).status_code == 403


async def test_a_non_member_sees_no_messages_and_a_manager_may_join(app, alice, db, tenant_a, owner_a):
    room = await _room(db, tenant_a, alice.user, "private")
    async with db.session(tenant_a.schema_name) as session:
        session.add(ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=alice.user.id, body="hush"))
        await session.commit()
    async with signed_in_as(app, db, tenant_a, "member") as bob:
        assert (await bob.get(f"/chat/{room.id}")).status_code == 404
        assert f"/chat/{room.id}" not in (await bob.get("/chat")).text
    async with signed_in_as(app, db, tenant_a, "admin") as admin:
        page = await admin.get(f"/chat/{room.id}")
        assert page.status_code == 200
        assert "hush" not in page.text
        joined = await admin.post(f"/chat/{room.id}/join", data={"csrf_token": await token(admin)})
        assert joined.status_code == 303
        assert "hush" in (await admin.get(f"/chat/{room.id}")).text


async def test_history_pages_with_older_link(alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    async with db.session(tenant_a.schema_name) as session:
        for i in range(55):
            session.add(
                ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=alice.user.id, body=f"msg-{i:02d}")
            )
            await session.flush()
        await session.commit()
    latest = (await alice.get(f"/chat/{room.id}")).text
    assert "msg-54" in latest
    assert "msg-04" not in latest
    assert "msg-05" in latest
    assert latest.index("msg-05") < latest.index("msg-54")  # oldest first on the page
    assert "Older messages" in latest
    messages = await _messages(db, tenant_a, room.id)
    older = (await alice.get(f"/chat/{room.id}?before={messages[5].id}")).text
    assert "msg-04" in older
    assert "msg-00" in older
    assert "msg-05" not in older
    assert (await alice.get(f"/chat/{room.id}?before=garbage")).status_code == 200


async def test_another_tenants_room_is_the_404_page(alice, db, tenant_b, owner_b):
    room = await _room(db, tenant_b, owner_b, "beta secret")
    for method, path in (
        ("GET", f"/chat/{room.id}"),
        ("POST", f"/chat/{room.id}/messages"),
        ("POST", f"/chat/{room.id}/join"),
    ):
        if method == "GET":
            response = await alice.get(path)
        else:
            response = await alice.post(path, data={"csrf_token": await token(alice), "body": "hello"})
        assert response.status_code == 404, path
        assert "beta secret" not in response.text


async def _member_ids(db, tenant, room_id) -> set[uuid.UUID]:
    async with db.session(tenant.schema_name) as session:
        stmt = select(ChatRoomMember.user_id).where(ChatRoomMember.room_id == room_id)
        return set(await session.scalars(stmt))


async def test_members_are_added_removed_and_leave(app, alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user)
    async with (
        signed_in_as(app, db, tenant_a, "member") as bob,
        signed_in_as(app, db, tenant_a, "member") as carol,
    ):
        page = await alice.get(f"/chat/{room.id}")
        assert f'<option value="{bob.user.id}"' in page.text
        assert f'<option value="{alice.user.id}"' not in page.text  # already in
        for user in (bob.user, carol.user):
            added = await alice.post(
                f"/chat/{room.id}/members", data={"csrf_token": await token(alice), "user_id": str(user.id)}
            )
            assert added.status_code == 303
        assert await _member_ids(db, tenant_a, room.id) == {alice.user.id, bob.user.id, carol.user.id}
        for value in ("", "not-an-id", str(uuid.uuid4())):
            refused = await alice.post(
                f"/chat/{room.id}/members", data={"csrf_token": await token(alice), "user_id": value}
            )
            assert refused.status_code == 422, value
            assert error_of(refused.text, "user_id")
        # Bob, a member but not the creator, may not remove Carol, and sees no button for it.
        bob_page = (await bob.get(f"/chat/{room.id}")).text
        assert f"/chat/{room.id}/members/{carol.user.id}/remove" not in bob_page
        assert f"/chat/{room.id}/members/{bob.user.id}/remove" in bob_page  # but may leave
        denied = await bob.post(
            f"/chat/{room.id}/members/{carol.user.id}/remove", data={"csrf_token": await token(bob)}
        )
        assert denied.status_code == 403
        removed = await alice.post(
            f"/chat/{room.id}/members/{carol.user.id}/remove", data={"csrf_token": await token(alice)}
        )
        assert removed.status_code == 303
        left = await bob.post(
            f"/chat/{room.id}/members/{bob.user.id}/remove", data={"csrf_token": await token(bob)}
        )
        assert left.status_code == 303
        assert left.headers["location"] == "/chat"
        assert await _member_ids(db, tenant_a, room.id) == {alice.user.id}
        assert (await bob.get(f"/chat/{room.id}")).status_code == 404


async def test_rename_and_archive(app, alice, db, tenant_a):
    room = await _room(db, tenant_a, alice.user, "old name")
    bad = await alice.post(
        f"/chat/{room.id}/settings", data={"csrf_token": await token(alice), "name": " ", "topic": "t"}
    )
    assert bad.status_code == 422
    assert error_of(bad.text, "name")
    saved = await alice.post(
        f"/chat/{room.id}/settings",
        data={"csrf_token": await token(alice), "name": "new name", "topic": "new"},
    )
    assert saved.status_code == 303
    archived = await alice.post(f"/chat/{room.id}/archive", data={"csrf_token": await token(alice)})
    assert archived.status_code == 303
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(ChatRoom, room.id)
        assert row is not None
        assert (row.name, row.topic) == ("new name", "new")
        assert row.archived_at is not None
    page = (await alice.get(f"/chat/{room.id}")).text
    assert "This room is archived" in page
    assert f'action="/chat/{room.id}/messages"' not in page
    assert f'action="/chat/{room.id}/unarchive"' in page
    async with signed_in_as(app, db, tenant_a, "member") as bob:
        async with db.session(tenant_a.schema_name) as session:
            session.add(ChatRoomMember(room_id=room.id, user_id=bob.user.id))
            await session.commit()
        assert f'action="/chat/{room.id}/unarchive"' not in (await bob.get(f"/chat/{room.id}")).text
        denied = await bob.post(f"/chat/{room.id}/unarchive", data={"csrf_token": await token(bob)})
        assert denied.status_code == 403
    back = await alice.post(f"/chat/{room.id}/unarchive", data={"csrf_token": await token(alice)})
    assert back.status_code == 303
    assert f'action="/chat/{room.id}/messages"' in (await alice.get(f"/chat/{room.id}")).text


async def test_edit_ones_own_message(app, alice, db, tenant_a):
    async with signed_in_as(app, db, tenant_a, "member") as bob:
        room = await _room(db, tenant_a, alice.user, "general", bob.user)
        async with db.session(tenant_a.schema_name) as session:
            mine = ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=alice.user.id, body="tpyo")
            theirs = ChatMessage(id=uuid.uuid4(), room_id=room.id, author_id=bob.user.id, body="theirs")
            session.add_all([mine, theirs])
            await session.commit()
        edit = f"/chat/{room.id}/messages/{mine.id}/edit"
        assert f'href="{edit}"' in (await alice.get(f"/chat/{room.id}")).text
        form = await alice.get(edit)
        assert form.status_code == 200
        assert "tpyo</textarea>" in form.text
        bad = await alice.post(edit, data={"csrf_token": await token(alice), "body": "y" * 4001})
        assert bad.status_code == 422
        assert error_of(bad.text, "body")
        saved = await alice.post(edit, data={"csrf_token": await token(alice), "body": "typo"})
        assert saved.status_code == 303
        assert saved.headers["location"] == f"/chat/{room.id}#m-{mine.id}"
        assert "(edited)" in (await bob.get(f"/chat/{room.id}")).text
        assert (await alice.get(f"/chat/{room.id}/messages/{theirs.id}/edit")).status_code == 403
        forged = await alice.post(
            f"/chat/{room.id}/messages/{theirs.id}/edit", data={"csrf_token": await token(alice), "body": "x"}
        )
        assert forged.status_code == 403
        rows = {m.id: (m.body, m.edited_at is not None) for m in await _messages(db, tenant_a, room.id)}
        assert rows == {mine.id: ("typo", True), theirs.id: ("theirs", False)}
