"""Fixtures of the browser tests: one platform stack and one Chromium for all of them.

Every test here is in the xdist group `browser`, so they run on one test worker (`--dist loadgroup`)
and share the stack; each test makes its own tenant, so they never see each other's data. The stack
lives for the whole session, so it has its own database and Redis database: its relay and worker
must not take the outbox rows and tasks of the tests that run on the same test worker after it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import Settings
from tenants.fleet import upgrade_public
from tests.conftest import separate_redis_url, worker_database_url
from tests.support.browser import ConsoleStack, Watch, browser_session, console_stack
from tests.support.tenants import TenantOps


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put every browser test in one xdist group."""
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.xdist_group("browser"))


@pytest.fixture(scope="session")
def stack(
    worker_id: str,
    settings: Settings,
    s3_server: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ConsoleStack]:
    """The whole platform as processes, on a database and a Redis database of its own."""
    url = worker_database_url(worker_id, "_console")
    drop_database(url)
    ensure_database(url)
    own = settings.model_copy(update={"database_url": url, "redis_url": separate_redis_url(worker_id)})
    upgrade_public(own)
    db = Database(own, pool_size=2)
    try:
        with console_stack(
            own, db, TenantOps(db, own), s3_server, tmp_path_factory.mktemp("console")
        ) as running:
            yield running
    finally:
        db.sync_engine.dispose()


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
