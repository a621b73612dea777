"""Debian's Chromium driven by Playwright (its own browser download is not used)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from pathlib import Path

from playwright.sync_api import Browser, Playwright, sync_playwright

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Browsers resolve *.localhost to the loopback address; Chromium in a container may not.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1,MAP localhost 127.0.0.1",
]


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless, as the tests drive it."""
    if not Path(CHROMIUM).exists():
        raise AssertionError("the browser tests need Chromium: apt-get install chromium (Debian's package)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium until the block ends."""
    with sync_playwright() as playwright:
        browser = launch(playwright)
        try:
            yield browser
        finally:
            browser.close()
