"""A chat room's page, live in real browsers: two members have the room open in their own browser
profiles; one types, and the other sees "… is typing…" and that they are here; one posts, edits and
deletes with the plain forms, and the other's page shows each change without being reloaded (the stack's
relay and worker publish the events, the API process relays them over the WebSocket). Written text is
shown as text, never as HTML."""

from __future__ import annotations

import json
import uuid

import redis
from playwright.sync_api import Browser, Page, WebSocketRoute, expect
from sqlalchemy import select

from platform_core.access.models import User
from platform_core.chat.models import ChatRoom, ChatRoomMember
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.realtime import publish_sync
from tests.browser.test_sign_in import sign_in
from tests.support.browser import ConsoleStack, Watch

PUBLISHED = 45_000  # the outbox relay and a worker stand between a post and its event


def test_a_message_appears_live_with_typing_and_presence(
    stack: ConsoleStack, browser: Browser, watch: Watch, page: Page
):
    tenant = stack.new_tenant(name="Live Chat")
    alice = f"alice@{tenant.slug}.example.com"
    bob = f"bob@{tenant.slug}.example.com"
    carol = f"carol@{tenant.slug}.example.com"
    stack.add_user(tenant, alice, role="member")
    stack.add_user(tenant, bob, role="member")
    stack.add_user(tenant, carol, role="viewer")
    room_id = uuid.uuid4()
    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        everyone = [alice, bob, carol]
        ids = dict(session.execute(select(User.email, User.id).where(User.email.in_(everyone))).all())
        session.add(ChatRoom(id=room_id, name="Standup", topic="", created_by_id=ids[alice]))
        session.flush()
        session.add_all([ChatRoomMember(room_id=room_id, user_id=ids[e]) for e in everyone])

    sign_in(page, stack, tenant.slug, alice)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    with page.expect_websocket(lambda ws: "/api/v1/realtime" in ws.url):
        page.goto(stack.url(tenant.slug, f"/chat/{room_id}"))
    room = page.locator("[data-chat-live]")
    expect(room).to_have_attribute("data-chat-following", "live")
    expect(page.get_by_text("New messages appear here as they are posted.")).to_be_visible()
    page.evaluate("window.notReloaded = true")  # gone if the page is loaded again

    their_profile = browser.new_context(viewport={"width": 1280, "height": 860})
    watch.attach(their_profile)
    their_profile.set_default_timeout(20_000)
    theirs = their_profile.new_page()
    sign_in(theirs, stack, tenant.slug, bob)
    expect(theirs.get_by_role("navigation", name="Main")).to_be_visible()
    theirs.goto(stack.url(tenant.slug, f"/chat/{room_id}"))
    expect(theirs.locator("[data-chat-live]")).to_have_attribute("data-chat-following", "live")

    # Each sees the other is here (presence is announced on arrival and answered).
    members = page.locator(".chat-member-list")
    expect(members.locator("li", has_text=bob).locator("[data-chat-here]")).to_be_visible()
    expect(theirs.locator(".chat-member-list li", has_text=alice).locator("[data-chat-here]")).to_be_visible()

    # A viewer follows the room too, but sends neither typing nor presence (that needs chat:write): the
    # others' "Here now" reaches them with their next periodic announcement.
    viewer_profile = browser.new_context(viewport={"width": 1280, "height": 860})
    watch.attach(viewer_profile)
    viewer_profile.set_default_timeout(20_000)
    viewers = viewer_profile.new_page()
    sign_in(viewers, stack, tenant.slug, carol)
    expect(viewers.get_by_role("navigation", name="Main")).to_be_visible()
    viewers.goto(stack.url(tenant.slug, f"/chat/{room_id}"))
    expect(viewers.locator("[data-chat-live]")).to_have_attribute("data-chat-following", "live")

    box = theirs.get_by_role("textbox", name="Message")
    box.press_sequentially("Morning <b>all</b>", delay=20)
    typing = page.locator("[data-chat-typing]")
    expect(typing).to_have_text("Bob is typing…")
    expect(theirs.locator("[data-chat-typing]")).to_have_text("")  # not about oneself

    theirs.get_by_role("button", name="Send").click()
    expect(theirs.get_by_role("list", name="Messages")).to_contain_text("Morning <b>all</b>")

    messages = page.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("Morning <b>all</b>", timeout=PUBLISHED)
    message = messages.locator("li.chat-message").last
    expect(message.locator("strong")).to_have_text("Bob")
    expect(message.locator("b")).to_have_count(0)  # the text, not markup
    expect(message.get_by_role("link", name="Edit")).to_have_count(0)  # someone else's message
    expect(page.get_by_text("No messages yet.")).to_have_count(0)
    expect(typing).to_have_text("")  # they sent it: no longer typing
    assert page.evaluate("window.notReloaded") is True
    expect(viewers.get_by_role("list", name="Messages")).to_contain_text("Morning <b>all</b>")
    expect(viewers.locator("[data-chat-live]")).to_have_attribute("data-chat-following", "live")
    expect(members.locator("li", has_text=carol).locator("[data-chat-here]")).to_have_count(0)
    viewer_profile.close()

    theirs.get_by_role("list", name="Messages").get_by_role("link", name="Edit").click()
    theirs.get_by_role("textbox", name="Message").fill("Morning, everyone")
    theirs.get_by_role("button", name="Save message").click()
    expect(theirs.get_by_role("status")).to_contain_text("Message saved.")
    expect(message.locator(".chat-body")).to_have_text("Morning, everyone", timeout=PUBLISHED)
    expect(message).to_contain_text("(edited)")

    theirs.once("dialog", lambda dialog: dialog.accept())
    theirs.get_by_role("list", name="Messages").get_by_role("button", name="Delete").click()
    expect(theirs.get_by_role("status")).to_contain_text("Message deleted.")
    expect(message.locator(".chat-body")).to_have_text("This message was deleted.", timeout=PUBLISHED)
    expect(message).not_to_contain_text("(edited)")
    assert page.evaluate("window.notReloaded") is True
    their_profile.close()


def _message(room_id: uuid.UUID, author_id: uuid.UUID, body: str) -> dict[str, object]:
    """A `message.created` event's data, as the chat service writes it."""
    return {
        "id": str(uuid.uuid4()),
        "room_id": str(room_id),
        "author_id": str(author_id),
        "body": body,
        "created_at": utcnow().isoformat(),
        "edited_at": None,
        "deleted_at": None,
    }


def test_a_dropped_socket_resumes_after_the_last_event_and_a_lost_history_reloads(
    stack: ConsoleStack, page: Page
):
    tenant = stack.new_tenant(name="Live Resume")
    alice = f"alice@{tenant.slug}.example.com"
    stack.add_user(tenant, alice, role="member")
    room_id = uuid.uuid4()
    channel = f"chat.{room_id}"
    with stack.sync_db.sync_session(tenant.schema_name) as session, session.begin():
        alice_id = session.scalars(select(User.id).where(User.email == alice)).one()
        session.add(ChatRoom(id=room_id, name="Ops", topic="", created_by_id=alice_id))
        session.flush()
        session.add(ChatRoomMember(room_id=room_id, user_id=alice_id))
    bus = redis.Redis.from_url(stack.settings.redis_url)

    # Every socket of the page goes through the test, which can drop what the server sends and close it.
    sockets: list[WebSocketRoute] = []
    subscribes: list[dict[str, object]] = []
    delivering = {"on": True}

    def route(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_page(text: str | bytes) -> None:
            frame = json.loads(text)
            if frame.get("type") == "subscribe":
                subscribes.append(frame)
            server.send(text)

        def from_server(text: str | bytes) -> None:
            if delivering["on"] or ws is not sockets[0]:
                ws.send(text)

        ws.on_message(from_page)
        server.on_message(from_server)
        sockets.append(ws)

    page.route_web_socket(lambda url: "/api/v1/realtime" in url, route)
    sign_in(page, stack, tenant.slug, alice)
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    page.goto(stack.url(tenant.slug, f"/chat/{room_id}"))
    room = page.locator("[data-chat-live]")
    expect(room).to_have_attribute("data-chat-following", "live")
    page.evaluate("window.notReloaded = true")
    messages = page.get_by_role("list", name="Messages")
    assert subscribes[0]["offset"] == room.get_attribute("data-chat-offset")  # where the page was read

    first = publish_sync(bus, tenant.id, channel, "message.created", _message(room_id, alice_id, "first"))
    expect(messages).to_contain_text("first")
    # The connection dies while an event is on its way: the page never sees it.
    delivering["on"] = False
    publish_sync(bus, tenant.id, channel, "message.created", _message(room_id, alice_id, "in flight"))
    sockets[0].close(code=1011, reason="gone")
    expect(messages).to_contain_text("in flight")  # the new socket resumed after "first"
    assert len(sockets) == 2
    assert subscribes[1] == {"type": "subscribe", "channel": channel, "offset": first}
    expect(messages.locator("li.chat-message")).to_have_count(2)
    expect(room).to_have_attribute("data-chat-following", "live")
    assert page.evaluate("window.notReloaded") is True

    # The history after the page's offset is gone: the page loads again (and shows what is in the database).
    sockets[1].send(json.dumps({"type": "error", "code": "resume_unavailable", "channel": channel}))
    page.wait_for_function("window.notReloaded === undefined")
    expect(page.locator("[data-chat-live]")).to_have_attribute("data-chat-following", "live")
    bus.close()
