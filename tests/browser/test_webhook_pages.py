"""Webhook endpoints in a real browser, delivered for real: an endpoint added on the form (its secret
shown once), a test event sent from its page, the stack's relay and worker delivering it to a receiver
on loopback that checks the Standard Webhooks signature with the secret the page showed, the delivery
log showing it succeeded; then a rotated secret, and the replay form's time zone."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect
from standardwebhooks.webhooks import Webhook

from tests.browser.test_sign_in import sign_in
from tests.conftest import subscribed
from tests.support.browser import ConsoleStack, Watch, owner_email
from tests.support.processes import wait_until

DELIVERY_DEADLINE = 45.0


@dataclass
class Received:
    """A request the receiver got: its headers (lower-case names) and raw body."""

    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that records every request and answers 200."""

    server: ThreadingHTTPServer
    requests: list[Received] = field(default_factory=list)

    @property
    def url(self) -> str:
        """Where the endpoint points."""
        return f"http://127.0.0.1:{self.server.server_address[1]}/hooks/console"

    def verified_by(self, secret: str, after: int = 0) -> list[Any]:
        """The payloads of the requests (from the `after`-th on) whose signature `secret` verifies."""
        found = []
        for request in self.requests[after:]:
            try:
                found.append(Webhook(secret).verify(request.body, request.headers))
            except Exception:
                continue
        return found


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver serving in a thread for one test."""
    requests: list[Received] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            requests.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(b"received, thanks")

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(server, requests)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _signed_in_pro_tenant(stack: ConsoleStack, page: Page, name: str) -> Any:
    tenant = stack.new_tenant(name=name)
    subscribed(stack.sync_db, tenant, plan="pro", status="active")  # a plan with webhooks
    sign_in(page, stack, tenant.slug, owner_email(tenant.slug))
    expect(page.get_by_role("heading", name=name)).to_be_visible()
    return tenant


def _latest_delivery_status(page: Page) -> str:
    page.reload()
    status = page.locator("tr[data-delivery] [data-delivery-status]").first
    return status.inner_text() if status.count() else ""


def test_add_an_endpoint_send_a_test_event_and_rotate_the_secret(
    stack: ConsoleStack, page: Page, receiver: Receiver
):
    _signed_in_pro_tenant(stack, page, "Hook Works")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Webhooks").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    page.get_by_role("link", name="Add endpoint").click()

    page.get_by_role("button", name="Add endpoint").click()  # nothing filled in: errors, the form kept
    expect(page.locator("#e-url")).to_contain_text("Enter the URL")
    expect(page.locator("#e-events")).to_contain_text("Choose at least one event")

    page.get_by_label("Endpoint URL").fill(receiver.url)
    page.get_by_label("Description").fill("Console test receiver")
    page.get_by_role("checkbox", name="webhook.test").check()
    page.get_by_role("checkbox", name="item.created").check()
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.get_by_role("heading", name="Copy the signing secret now")).to_be_visible()
    secret = page.locator("#webhook-secret").inner_text().strip()
    assert secret.startswith("whsec_")
    assert "whsec_" not in page.url  # the form's own address: the secret is never in a URL

    page.get_by_role("link", name="← Webhooks").click()
    row = page.locator("tr", has=page.get_by_role("link", name=receiver.url))
    expect(row).to_contain_text("enabled")
    expect(row).to_contain_text("webhook.test")
    assert secret not in page.content()
    row.get_by_role("link", name=receiver.url).click()
    expect(page.get_by_role("heading", name="Webhook endpoint")).to_be_visible()
    endpoint_page = page.url
    assert secret not in page.content()
    expect(page.get_by_text("No events sent to this endpoint yet.")).to_be_visible()

    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_contain_text("A test event")
    wait_until(lambda: receiver.verified_by(secret), timeout=DELIVERY_DEADLINE, interval=0.2)
    [payload] = receiver.verified_by(secret)
    assert payload["type"] == "webhook.test"
    first = receiver.requests[0]
    assert first.headers["webhook-id"]
    assert first.headers["webhook-signature"].startswith("v1,")
    wait_until(lambda: _latest_delivery_status(page) == "succeeded", timeout=DELIVERY_DEADLINE, interval=0.5)
    row = page.locator("tr[data-delivery]").first
    expect(row).to_contain_text("webhook.test")
    expect(row).to_contain_text(first.headers["webhook-id"])
    expect(row).to_contain_text("200")
    page.get_by_text(f"Details of {first.headers['webhook-id']}").click()
    expect(page.locator("pre.webhook-body").first).to_have_text("received, thanks")

    page.once("dialog", lambda dialog: dialog.accept())  # "Make a new signing secret?"
    page.get_by_role("button", name="Rotate secret").click()
    expect(page.get_by_role("heading", name="Copy the new signing secret now")).to_be_visible()
    expect(page.get_by_text("keeps signing every request beside the new one for 24 hours")).to_be_visible()
    rotated = page.locator("#webhook-secret").inner_text().strip()
    assert rotated.startswith("whsec_")
    assert rotated != secret

    page.goto(endpoint_page)
    seen = len(receiver.requests)
    page.get_by_role("button", name="Send test event").click()
    expect(page.get_by_role("status")).to_contain_text("A test event")
    # During the rotation both secrets sign: a receiver on either verifies the new event.
    wait_until(lambda: receiver.verified_by(rotated, after=seen), timeout=DELIVERY_DEADLINE, interval=0.2)
    assert receiver.verified_by(secret, after=seen)
    expect(page.get_by_text(f"Details of {first.headers['webhook-id']}")).to_be_visible()


def test_the_replay_forms_time_is_the_browsers(
    stack: ConsoleStack, browser: Browser, watch: Watch, receiver: Receiver
):
    context = browser.new_context(timezone_id="Asia/Tokyo")  # UTC+9 all year
    watch.attach(context)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        tenant = _signed_in_pro_tenant(stack, page, "Hook Tokyo")
        page.goto(stack.url(tenant.slug, "/webhooks/new"))
        page.get_by_label("Endpoint URL").fill(receiver.url)
        page.get_by_role("checkbox", name="item.deleted").check()
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.get_by_role("heading", name="Copy the signing secret now")).to_be_visible()
        page.get_by_role("link", name="← Webhooks").click()
        page.get_by_role("link", name=receiver.url).click()
        expect(page.get_by_text("In your time zone (Asia/Tokyo).")).to_be_visible()
        page.get_by_label("Replay failed deliveries since").fill("2026-01-02T09:30")
        page.get_by_role("button", name="Replay failed").click()
        expect(page.get_by_role("status")).to_contain_text(
            "No delivery since 2026-01-02 00:30 UTC has failed"
        )
    finally:
        context.close()
    watch.assert_clean()
