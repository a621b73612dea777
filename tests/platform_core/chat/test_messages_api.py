"""Chat messages over the API: posting and its limits, edits and deletions by their author only, the
history's paging, and who may read it."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from platform_core.chat.models import ChatMessage
from tests.platform_core.chat.conftest import add, make_room, post

ROOMS = "/api/v1/chat/rooms"


def _messages(room: dict) -> str:
    return f"{ROOMS}/{room['id']}/messages"


async def test_post_and_read_back(users, db, tenant_a):
    alice, client = await users("member")
    room = await make_room(client)
    created = await post(client, room, "  hello,\n  world  ")
    assert created.status_code == 201
    message = created.json()
    assert (message["body"], message["author_id"], message["room_id"]) == (
        "  hello,\n  world  ",
        str(alice.id),
        room["id"],
    )
    assert (message["edited_at"], message["deleted_at"]) == (None, None)
    history = (await client.get(_messages(room))).json()
    assert [m["id"] for m in history["items"]] == [message["id"]]
    assert history["next_before"] is None
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(ChatMessage, uuid.UUID(message["id"]))
        assert row is not None
        assert row.body == "  hello,\n  world  "


async def test_the_length_limit_and_blank_messages(users, db, tenant_a):
    _, client = await users("member")
    room = await make_room(client)
    assert (await post(client, room, "é" * 4000)).status_code == 201
    too_long = await post(client, room, "x" * 4001)
    assert too_long.status_code == 422
    for body in ("", "   ", "\n\t "):
        assert (await post(client, room, body)).status_code == 422, repr(body)
    assert (await client.post(_messages(room), json={"body": "x", "extra": 1})).status_code == 422
    assert (await client.post(_messages(room), json={})).status_code == 422
    async with db.session(tenant_a.schema_name) as session:
        bodies = list(
            await session.scalars(
                select(ChatMessage.body).where(ChatMessage.room_id == uuid.UUID(room["id"]))
            )
        )
        assert bodies == ["é" * 4000]


async def test_a_non_member_neither_reads_nor_posts(users):
    _, alice_client = await users("member")
    _, bob_client = await users("member")
    room = await make_room(alice_client)
    await post(alice_client, room, "for members only")
    for response in (await bob_client.get(_messages(room)), await post(bob_client, room, "let me in")):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "chat_room_not_found"
        assert "for members only" not in response.text


async def test_only_the_author_edits_or_deletes(users, client_a, owner_a):
    _alice, alice_client = await users("member")
    bob, bob_client = await users("member")
    room = await make_room(alice_client)
    await add(alice_client, room, bob)
    message = (await post(alice_client, room, "original")).json()
    path = f"{_messages(room)}/{message['id']}"
    for response in (
        await bob_client.patch(path, json={"body": "forged"}),
        await bob_client.delete(path),
    ):
        assert (response.status_code, response.json()["error"]["code"]) == (403, "chat_not_author")
    # Not even an owner who manages the room.
    await add(client_a, room, owner_a)  # the owner manages rooms, so may add themselves
    assert (await client_a.delete(path)).status_code == 403
    edited = await alice_client.patch(path, json={"body": "edited"})
    assert edited.status_code == 200
    assert edited.json()["body"] == "edited"
    assert edited.json()["edited_at"] is not None
    assert (await alice_client.patch(path, json={"body": "y" * 4001})).status_code == 422
    assert (await alice_client.patch(path, json={"body": " "})).status_code == 422
    assert (await alice_client.delete(path)).status_code == 204
    assert (await alice_client.delete(path)).status_code == 204  # again: nothing changes
    gone = await alice_client.patch(path, json={"body": "resurrected"})
    assert (gone.status_code, gone.json()["error"]["code"]) == (409, "chat_message_deleted")
    missing = await alice_client.patch(f"{_messages(room)}/{uuid.uuid4()}", json={"body": "x"})
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "chat_message_not_found")


async def test_a_deleted_message_is_a_tombstone_in_the_history(users, db, tenant_a):
    _, client = await users("member")
    room = await make_room(client)
    first = (await post(client, room, "first")).json()
    second = (await post(client, room, "secret second")).json()
    assert (await client.delete(f"{_messages(room)}/{second['id']}")).status_code == 204
    items = (await client.get(_messages(room))).json()["items"]
    assert [(m["id"], m["body"], m["deleted_at"] is not None) for m in items] == [
        (second["id"], None, True),
        (first["id"], "first", False),
    ]
    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(ChatMessage, uuid.UUID(second["id"]))
        assert row is not None
        assert row.body is None  # the text is erased, not hidden


async def test_history_pages_newest_first_with_before_and_limit(users):
    _, client = await users("member")
    room = await make_room(client)
    other = await make_room(client, "other")
    sent = [(await post(client, room, f"m{i}")).json()["id"] for i in range(7)]
    foreign = (await post(client, other, "elsewhere")).json()["id"]
    seen: list[str] = []
    before = None
    pages = []
    while True:
        params = {"limit": 3} | ({"before": before} if before else {})
        page = await client.get(_messages(room), params=params)
        assert page.status_code == 200
        body = page.json()
        pages.append(len(body["items"]))
        seen += [m["body"] for m in body["items"]]
        before = body["next_before"]
        if before is None:
            break
        assert before == body["items"][-1]["id"]
    assert pages == [3, 3, 1]
    assert seen == [f"m{i}" for i in reversed(range(7))]
    # A message id is a cursor too.
    older = (await client.get(_messages(room), params={"before": sent[2]})).json()
    assert [m["body"] for m in older["items"]] == ["m1", "m0"]
    assert older["next_before"] is None
    # Exactly `limit` left: no next page.
    exact = (await client.get(_messages(room), params={"before": sent[3], "limit": 3})).json()
    assert ([m["body"] for m in exact["items"]], exact["next_before"]) == (["m2", "m1", "m0"], None)
    default = (await client.get(_messages(room))).json()
    assert len(default["items"]) == 7
    for params in ({"limit": 0}, {"limit": 101}, {"before": "not-a-cursor"}):
        assert (await client.get(_messages(room), params=params)).status_code == 422, params
    for cursor in (foreign, str(uuid.uuid4())):
        refused = await client.get(_messages(room), params={"before": cursor})
        assert (refused.status_code, refused.json()["error"]["code"]) == (422, "chat_invalid_cursor")
    assert (await client.get(_messages(room), params={"limit": 100})).status_code == 200


async def test_another_tenants_message_is_not_found(users, client_b):
    _alice, client = await users("member")
    room = await make_room(client)
    message = (await post(client, room, "alpha's words")).json()
    beta_room = await make_room(client_b)
    for method, body in (("PATCH", {"body": "changed by beta"}), ("DELETE", None)):
        response = await client_b.request(method, f"{_messages(beta_room)}/{message['id']}", json=body)
        assert (response.status_code, response.json()["error"]["code"]) == (404, "chat_message_not_found")
    # A message of another room of the same tenant is not found through this room either.
    other = await make_room(client, "other")
    wrong_room = await client.patch(f"{_messages(other)}/{message['id']}", json={"body": "x"})
    assert wrong_room.status_code == 404
    items = (await client.get(_messages(room))).json()["items"]
    assert [m["body"] for m in items] == ["alpha's words"]


async def test_an_api_key_posts_as_its_creator_within_its_scopes(app, users, db, settings, tenant_a):
    from tests.conftest import signed_in
    from tests.factories import create_api_key

    alice, client = await users("member")
    room = await make_room(client)
    read_only = await create_api_key(db, tenant_a, alice, ["chat:read"])
    writer = await create_api_key(db, tenant_a, alice, ["chat:read", "chat:write"])
    async with signed_in(app, tenant_a, writer) as bot:
        posted = await post(bot, room, "from a script")
        assert posted.status_code == 201
        assert posted.json()["author_id"] == str(alice.id)
    async with signed_in(app, tenant_a, read_only) as reader:
        assert (await reader.get(_messages(room))).status_code == 200
        assert (await post(reader, room, "nope")).status_code == 403
