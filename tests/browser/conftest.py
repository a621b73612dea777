"""Fixtures of the browser tests: one platform stack and one Chromium for all of them.

Every test here is in the xdist group `browser`, so they run on one test worker (`--dist loadgroup`)
and share the stack; each test makes its own tenant, so they never see each other's data.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from tests.support.browser import ConsoleStack, Watch, browser_session, console_stack
from tests.support.tenants import TenantOps


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every browser test in one xdist group."""
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def stack(
    settings: Settings,
    sync_db: Database,
    tenant_service: TenantOps,
    s3_server: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleStack]:
    """The whole platform as processes."""
    with console_stack(
        settings, sync_db, tenant_service, s3_server, tmp_path_factory.mktemp("console")
    ) as running:
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, for one module: Playwright's sync API holds a running event loop while it
    lives, which the async tests that may follow on the same test worker cannot share."""
    with browser_session() as running:
        yield running


@pytest.fixture
def watch(stack: ConsoleStack) -> Watch:
    """The test's record of JavaScript errors and requests to other hosts (checked after the test)."""
    allowed = {o for o in (stack.s3_endpoint.rstrip("/"),) if o}
    return Watch(allowed_origins=allowed)


@pytest.fixture
def context(browser: Browser, watch: Watch) -> Iterator[BrowserContext]:
    """A fresh browser profile (no cookies) whose pages are watched; clean at the end."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 860})
    watch.attach(ctx)
    ctx.set_default_timeout(20_000)
    try:
        yield ctx
    finally:
        ctx.close()
    watch.assert_clean()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    """A page of the test's browser profile."""
    return context.new_page()
