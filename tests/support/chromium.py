"""Debian's Chromium driven by Playwright (its own browser download is not used)."""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator

from playwright.sync_api import Browser, sync_playwright

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


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    """A headless Chromium until the block ends."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
