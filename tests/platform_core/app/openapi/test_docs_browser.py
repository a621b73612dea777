"""/docs in a real browser (Debian's Chromium driven by Playwright) against the API under uvicorn."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from platform_core.kernel.settings import PROJECT_ROOT, Settings
from tests.support.chromium import chromium
from tests.support.processes import ApiServer


@pytest.fixture(scope="module")
def server(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """The API under uvicorn, with `localhost` as base domain so the browser reaches tenants by name."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "STRIPE_", "S3_"))}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": "localhost",
            "LOG_FORMAT": "console",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    with ApiServer(env, tmp_path_factory.mktemp("docs") / "api.log") as api:
        yield api


def test_docs_load_offline_with_operations_and_authorize(server, tenant_a, tmp_path: Path):
    origin = f"http://{tenant_a.slug}.localhost:{server.port}"
    requested: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{origin}/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=30_000)
        authorize = page.locator("button.authorize")
        assert authorize.count() == 1
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        page.screenshot(path=str(tmp_path / "docs.png"), full_page=False)
        authorize.click()
        page.wait_for_selector(".auth-container", timeout=10_000)
        dialog = page.locator(".auth-container").all_inner_texts()
    assert any("/api/v1/items" in p for p in paths)
    assert not any("/api/v1/operator" in p or "/webhooks/stripe" in p for p in paths)
    assert any("password" in text and "OAuth2" in text for text in dialog)
    hosts = {urlsplit(url).netloc for url in requested if not url.startswith("data:")}
    assert hosts == {f"{tenant_a.slug}.localhost:{server.port}"}, requested
