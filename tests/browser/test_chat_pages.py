"""The console's chat in a real browser, by its plain forms (its live updates: test_chat_live.py): a
member creates a room from the Chat page, posts and deletes with plain forms (a too-long message is
refused on the form), adds a colleague who then reads the room in their own browser, and the stack's
relay and worker publish the room's events to its Redis stream."""

from __future__ import annotations

import json
from typing import Any

import redis
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from platform_core.chat.models import ChatRoom
from platform_core.kernel.realtime import stream_key
from tests.browser.test_sign_in import sign_in
from tests.support.browser import ConsoleStack, Watch
from tests.support.processes import wait_until


def _events(client: Any, key: str) -> list[str]:
    return [f[b"event"].decode() for _, f in client.xrange(key)]


def test_create_a_room_post_and_delete_a_message(
    stack: ConsoleStack, browser: Browser, watch: Watch, page: Page
):
    tenant = stack.new_tenant(name="Chatty")
    email = f"member@{tenant.slug}.example.com"
    stack.add_user(tenant, email, role="member")
    colleague = f"colleague@{tenant.slug}.example.com"
    stack.add_user(tenant, colleague, role="viewer")
    sign_in(page, stack, tenant.slug, email)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Chat", exact=True).click()
    expect(page.get_by_role("heading", name="Chat")).to_be_visible()
    expect(page.get_by_text("You are not in any room yet.")).to_be_visible()

    page.get_by_label("Name").fill("Launch plans")
    page.get_by_label("Topic").fill("Everything about the launch")
    page.get_by_role("button", name="Create room").click()
    expect(page.get_by_role("status")).to_contain_text("Room created.")
    expect(page.get_by_role("heading", name="Launch plans")).to_be_visible()
    expect(page.get_by_text("No messages yet.")).to_be_visible()

    page.get_by_role("textbox", name="Message").fill("x" * 4001)
    page.get_by_role("button", name="Send").click()
    expect(page.locator("#e-body")).to_contain_text("4000")

    page.get_by_role("textbox", name="Message").fill("We ship on Monday.\nBring cake.")
    page.get_by_role("button", name="Send").click()
    messages = page.get_by_role("list", name="Messages")
    expect(messages).to_contain_text("We ship on Monday.")
    expect(messages).to_contain_text("Bring cake.")
    expect(page.get_by_role("textbox", name="Message")).to_have_value("")

    page.once("dialog", lambda dialog: dialog.accept())
    messages.get_by_role("button", name="Delete").click()
    expect(page.get_by_role("status")).to_contain_text("Message deleted.")
    expect(messages).to_contain_text("This message was deleted.")
    expect(messages).not_to_contain_text("We ship on Monday.")

    page.get_by_role("textbox", name="Message").fill("Welcome aboard.")
    page.get_by_role("button", name="Send").click()
    expect(messages).to_contain_text("Welcome aboard.")
    page.get_by_label("Add someone").select_option(label=f"Colleague ({colleague})")
    page.get_by_role("button", name="Add to room").click()
    expect(page.get_by_role("status")).to_contain_text("Member added.")
    expect(page.locator(".chat-member-list")).to_contain_text(colleague)

    their_profile = browser.new_context()
    watch.attach(their_profile)
    theirs = their_profile.new_page()
    sign_in(theirs, stack, tenant.slug, colleague)
    theirs.get_by_role("navigation", name="Main").get_by_role("link", name="Chat", exact=True).click()
    theirs.get_by_role("link", name="Launch plans").click()
    expect(theirs.get_by_role("list", name="Messages")).to_contain_text("Welcome aboard.")
    expect(theirs.get_by_role("textbox", name="Message")).to_have_count(0)  # a viewer reads only
    their_profile.close()

    page.get_by_role("link", name="← Chat").click()
    expect(page.get_by_role("link", name="Launch plans")).to_be_visible()

    with stack.sync_db.sync_session(tenant.schema_name) as session:
        room = session.scalars(select(ChatRoom).where(ChatRoom.name == "Launch plans")).one()
    streams = redis.Redis.from_url(stack.settings.redis_url)
    try:
        key = stream_key(tenant.id, f"chat.{room.id}")
        expected = ["room.created", "message.created", "message.deleted", "message.created", "member.added"]
        wait_until(lambda: len(_events(streams, key)) >= len(expected), timeout=45)
        assert _events(streams, key) == expected
        assert json.loads(streams.xrange(key)[2][1][b"data"])["body"] is None
    finally:
        streams.close()
