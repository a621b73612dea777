"""Webhook fixtures: the delivery settings of the tests (receivers on loopback, short retries)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from platform_core.webhooks.settings import get_webhook_settings


@pytest.fixture
def private_targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Let endpoints on loopback be registered (as `make dev` and the tests configure it)."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_webhook_settings.cache_clear()
    yield
    get_webhook_settings.cache_clear()


@pytest.fixture
def public_targets_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Production's rule: public https targets only."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_webhook_settings.cache_clear()
    yield
    get_webhook_settings.cache_clear()
