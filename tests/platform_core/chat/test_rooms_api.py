"""Chat rooms and their members over the API: who sees which room, who changes it, archiving, paging,
and another tenant's rooms."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from platform_core.chat.models import ChatRoom, ChatRoomMember
from tests.platform_core.chat.conftest import add, make_room, post

ROOMS = "/api/v1/chat/rooms"


async def test_create_get_rename_and_the_creator_is_a_member(users, db, tenant_a):
    alice, client = await users("member")
    room = await make_room(client, "  general  ", topic="Anything goes")
    assert (room["name"], room["topic"], room["created_by_id"]) == ("general", "Anything goes", str(alice.id))
    assert room["archived_at"] is None
    got = await client.get(f"{ROOMS}/{room['id']}")
    assert got.status_code == 200
    assert got.json()["id"] == room["id"]
    renamed = await client.patch(f"{ROOMS}/{room['id']}", json={"name": "random"})
    assert renamed.status_code == 200
    assert (renamed.json()["name"], renamed.json()["topic"]) == ("random", "Anything goes")
    members = (await client.get(f"{ROOMS}/{room['id']}/members")).json()
    assert [m["user_id"] for m in members["items"]] == [str(alice.id)]
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(ChatRoom, uuid.UUID(room["id"]))
        assert row is not None
        assert row.name == "random"


async def test_bad_room_input_is_422(users):
    _, client = await users("member")
    for body in (
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 101},
        {"name": "a", "topic": "t" * 501},
        {"nam": "a"},
    ):
        response = await client.post(ROOMS, json=body)
        assert response.status_code == 422, body


async def test_list_shows_the_callers_rooms_and_every_room_to_those_who_manage(users, client_a):
    _alice, alice_client = await users("member")
    _bob, bob_client = await users("member")
    mine = await make_room(alice_client, "alice-room")
    theirs = await make_room(bob_client, "bob-room")
    listed = (await alice_client.get(ROOMS)).json()
    assert {r["id"] for r in listed["items"]} == {mine["id"]}
    assert listed["total"] == 1
    assert (await alice_client.get(f"{ROOMS}/{theirs['id']}")).status_code == 404
    # The owner (members:manage) sees both, without being a member of either.
    everything = {r["id"] for r in (await client_a.get(ROOMS)).json()["items"]}
    assert {mine["id"], theirs["id"]} <= everything
    assert (await client_a.get(f"{ROOMS}/{theirs['id']}")).status_code == 200
    # ... but reads a room's messages only as a member.
    assert (await client_a.get(f"{ROOMS}/{theirs['id']}/messages")).status_code == 404


async def test_list_pages_by_name(users):
    _, client = await users("member")
    for name in ("c", "a", "b"):
        await make_room(client, name)
    first = (await client.get(ROOMS, params={"page_size": 2})).json()
    assert ([r["name"] for r in first["items"]], first["total"]) == (["a", "b"], 3)
    second = (await client.get(ROOMS, params={"page_size": 2, "page": 2})).json()
    assert [r["name"] for r in second["items"]] == ["c"]


async def test_archive_and_unarchive(users):
    _alice, client = await users("member")
    room = await make_room(client)
    archived = await client.post(f"{ROOMS}/{room['id']}/archive")
    assert archived.status_code == 200
    assert archived.json()["archived_at"] is not None
    assert room["id"] not in {r["id"] for r in (await client.get(ROOMS)).json()["items"]}
    listed = (await client.get(ROOMS, params={"include_archived": "true"})).json()
    assert room["id"] in {r["id"] for r in listed["items"]}
    refused = await post(client, room, "hello?")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "chat_room_archived")
    assert (await client.patch(f"{ROOMS}/{room['id']}", json={"name": "x"})).status_code == 409
    # History stays readable.
    assert (await client.get(f"{ROOMS}/{room['id']}/messages")).status_code == 200
    again = await client.post(f"{ROOMS}/{room['id']}/archive")
    assert again.json()["archived_at"] == archived.json()["archived_at"]
    back = await client.post(f"{ROOMS}/{room['id']}/unarchive")
    assert back.status_code == 200
    assert back.json()["archived_at"] is None
    assert (await post(client, room, "back")).status_code == 201


async def test_only_the_creator_or_a_manager_renames_archives_and_removes_others(users, client_a):
    _alice, alice_client = await users("member")
    bob, bob_client = await users("member")
    carol, _ = await users("member")
    room = await make_room(alice_client)
    await add(alice_client, room, bob)
    await add(bob_client, room, carol)  # any member adds members
    for method, path, body in (
        ("PATCH", f"{ROOMS}/{room['id']}", {"name": "mine now"}),
        ("POST", f"{ROOMS}/{room['id']}/archive", None),
        ("DELETE", f"{ROOMS}/{room['id']}/members/{carol.id}", None),
    ):
        response = await bob_client.request(method, path, json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (403, "chat_room_manage_denied")
    assert (await alice_client.delete(f"{ROOMS}/{room['id']}/members/{carol.id}")).status_code == 204
    assert (
        await client_a.patch(f"{ROOMS}/{room['id']}", json={"topic": "set by the owner"})
    ).status_code == 200
    # Anyone may leave; then the room is gone for them.
    assert (await bob_client.delete(f"{ROOMS}/{room['id']}/members/{bob.id}")).status_code == 204
    assert (await bob_client.get(f"{ROOMS}/{room['id']}")).status_code == 404
    assert (await alice_client.delete(f"{ROOMS}/{room['id']}/members/{bob.id}")).status_code == 404


async def test_adding_members(users, db, tenant_a):
    alice, client = await users("member")
    bob, bob_client = await users("member")
    room = await make_room(client)
    # A non-member cannot add anyone (the room does not exist for them), not even themselves.
    denied = await bob_client.post(f"{ROOMS}/{room['id']}/members", json={"user_id": str(bob.id)})
    assert denied.status_code == 404
    await add(client, room, bob)
    twice = await client.post(f"{ROOMS}/{room['id']}/members", json={"user_id": str(bob.id)})
    assert (twice.status_code, twice.json()["error"]["code"]) == (409, "chat_already_member")
    unknown = await client.post(f"{ROOMS}/{room['id']}/members", json={"user_id": str(uuid.uuid4())})
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (422, "chat_unknown_user")
    inactive, _ = await users("member", is_active=False)
    refused = await client.post(f"{ROOMS}/{room['id']}/members", json={"user_id": str(inactive.id)})
    assert refused.status_code == 422
    async with db.session(tenant_a.schema_name) as session:
        rows = await session.scalars(
            select(ChatRoomMember.user_id).where(ChatRoomMember.room_id == uuid.UUID(room["id"]))
        )
        assert set(rows) == {alice.id, bob.id}
    listed = (await bob_client.get(ROOMS)).json()
    assert room["id"] in {r["id"] for r in listed["items"]}


async def test_viewer_reads_but_does_not_write(users):
    _alice, client = await users("member")
    viewer, viewer_client = await users("viewer")
    room = await make_room(client)
    await add(client, room, viewer)
    assert (await post(client, room, "hi")).status_code == 201
    history = await viewer_client.get(f"{ROOMS}/{room['id']}/messages")
    assert history.status_code == 200
    assert [m["body"] for m in history.json()["items"]] == ["hi"]
    assert (await viewer_client.get(ROOMS)).status_code == 200
    for response in (
        await post(viewer_client, room, "me too"),
        await viewer_client.post(ROOMS, json={"name": "viewer room"}),
        await viewer_client.patch(f"{ROOMS}/{room['id']}", json={"name": "x"}),
    ):
        assert response.status_code == 403
        assert response.json()["error"]["details"] == {"permission": "chat:write"}


async def test_a_role_without_chat_read_is_refused(users, db, tenant_a):
    from tests.factories import create_role

    role = await create_role(db, tenant_a, "no-chat", ["items:read"])
    _, client = await users(role_id=role.id)
    response = await client.get(ROOMS)
    assert response.status_code == 403
    assert response.json()["error"]["details"] == {"permission": "chat:read"}


async def test_another_tenants_room_is_not_found(client_a, client_b):
    room = await make_room(client_a, "alpha secret room")
    assert (await post(client_a, room, "alpha secret message")).status_code == 201
    for method, path, body in (
        ("GET", f"{ROOMS}/{room['id']}", None),
        ("PATCH", f"{ROOMS}/{room['id']}", {"name": "taken"}),
        ("GET", f"{ROOMS}/{room['id']}/members", None),
        ("GET", f"{ROOMS}/{room['id']}/messages", None),
        ("POST", f"{ROOMS}/{room['id']}/messages", {"body": "hello from beta"}),
        ("POST", f"{ROOMS}/{room['id']}/archive", None),
    ):
        response = await client_b.request(method, path, json=body)
        assert response.status_code == 404, (method, path, response.text)
        assert "alpha secret" not in response.text
    assert room["id"] not in {r["id"] for r in (await client_b.get(ROOMS)).json()["items"]}
    unchanged = (await client_a.get(f"{ROOMS}/{room['id']}")).json()
    assert (unchanged["name"], unchanged["archived_at"]) == ("alpha secret room", None)
