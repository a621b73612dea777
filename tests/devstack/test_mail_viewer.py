"""The development mail viewer, in a real browser, over what the SMTP sink stored."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from platform_core.devstack import mail_viewer
from platform_core.devstack.mail_viewer import linkified, links_in
from tests.support.chromium import chromium
from workers.email.render import RenderedEmail, render_email
from workers.email.sender import build_message, send_message
from workers.email.settings import EmailSettings
from workers.email.sink import MailSink

FROM = "Platform <no-reply@platform.test>"


class _Target(BaseHTTPRequestHandler):
    """A page of the test's own, where the links of the messages lead."""

    def do_GET(self) -> None:
        body = f"<!doctype html><title>target</title><h1>reached {self.path}</h1>".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextlib.contextmanager
def _target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Target)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _send(port: int, to: str, link: str, subject_hours: int = 2) -> None:
    """A password-reset email as the platform renders and sends it."""
    rendered = render_email("password_reset", {"reset_url": link, "expires_in_hours": subject_hours})
    message = build_message(rendered, to=to, from_address=FROM)
    send_message(message, EmailSettings(host="127.0.0.1", port=port, tls="none", from_address=FROM))


@pytest.fixture
def viewer(tmp_path: Path) -> Iterator[tuple[MailSink, str]]:
    """The sink and the viewer over its directory, as `platformctl dev` runs them."""
    with (
        MailSink(tmp_path / "mail") as sink,
        mail_viewer.running(tmp_path / "mail", log_path=tmp_path / "viewer.log") as url,
    ):
        yield sink, url


@pytest.fixture
def page() -> Iterator[Page]:
    """A Chromium page."""
    with chromium() as browser:
        yield browser.new_page()


def test_the_viewer_lists_caught_mail_newest_first_and_its_links_lead_to_their_targets(viewer, page):
    sink, url = viewer
    with _target() as target:
        _send(sink.port, "first@example.com", f"{target}/older")
        _send(sink.port, "ada@example.com", f"{target}/reset?token=abc&next=%2Fhome")

        page.goto(url)
        rows = page.locator("tbody tr")
        expect(rows).to_have_count(2)
        expect(rows.nth(0)).to_contain_text("ada@example.com")  # newest first
        expect(rows.nth(0)).to_contain_text("no-reply@platform.test")
        expect(rows.nth(1)).to_contain_text("first@example.com")

        rows.nth(0).get_by_role("link", name="Reset your password").click()
        expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
        link = f"{target}/reset?token=abc&next=%2Fhome"
        expect(page.locator("pre").get_by_role("link", name=link)).to_be_visible()
        message_page = page.url

        # The HTML part's button, inside the sandboxed frame, takes the whole window to its target.
        frame = page.frame_locator("iframe")
        frame.get_by_role("link", name="Choose a new password").click()
        page.wait_for_url(link)
        expect(page.get_by_role("heading")).to_have_text("reached /reset?token=abc&next=%2Fhome")

        # So does the link in the text part.
        page.goto(message_page)
        page.locator("pre").get_by_role("link", name=link).click()
        page.wait_for_url(link)


def test_the_html_part_cannot_run_script_and_unknown_messages_are_404(viewer, page):
    sink, url = viewer
    hostile = RenderedEmail(
        subject="Hello",
        text="Hello",
        html='<p id="p">safe</p><script>document.title = "ran"; parent.document.title = "ran"</script>',
    )
    send_message(
        build_message(hostile, to="ada@example.com", from_address=FROM),
        EmailSettings(host="127.0.0.1", port=sink.port, tls="none", from_address=FROM),
    )
    page.goto(url)
    page.get_by_role("link", name="Hello").click()
    expect(page.frame_locator("iframe").locator("#p")).to_have_text("safe")
    (frame,) = page.main_frame.child_frames
    assert (page.title(), frame.title()) == ("Hello", "")  # the script is there and never ran
    assert httpx.get(f"{url}/messages/nothing-here").status_code == 404
    assert httpx.get(f"{url}/messages/..%2Fviewer.log").status_code == 404


def test_links_in_text_are_escaped_anchors_without_their_trailing_punctuation():
    text = 'See https://a.test/x?a=1&b=<2>, then "https://b.test/y".'
    assert str(linkified(text)) == (
        'See <a href="https://a.test/x?a=1&amp;b=">https://a.test/x?a=1&amp;b=</a>&lt;2&gt;, then '
        '&#34;<a href="https://b.test/y">https://b.test/y</a>&#34;.'
    )
    assert links_in(text) == ["https://a.test/x?a=1&b=", "https://b.test/y"]
