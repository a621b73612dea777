"""The process's LISTEN connection: delivery by channel, and forgetting everything on reconnection."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import psycopg
import pytest

from platform_core.kernel.db.notifications import KEPT_WHILE_LISTENING, Notifications, entry_lifetime
from platform_core.kernel.settings import to_libpq_url


class Heard:
    """What one subscriber was told, with an event per expected payload."""

    def __init__(self) -> None:
        self.payloads: list[str | None] = []
        self.changed = asyncio.Event()

    def __call__(self, payload: str | None) -> None:
        self.payloads.append(payload)
        self.changed.set()

    async def until(self, count: int) -> list[str | None]:
        """Wait until `count` payloads were heard; return them."""
        while len(self.payloads) < count:
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 10)
        return self.payloads


def notify(settings, channel: str, payload: str) -> None:
    """Send one notification from another connection."""
    with psycopg.connect(to_libpq_url(settings.database_url), autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", (channel, payload))


@contextlib.asynccontextmanager
async def listening(notifications: Notifications, ready: asyncio.Event) -> AsyncIterator[asyncio.Task]:
    task = asyncio.create_task(notifications.listen(ready=ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_each_channel_reaches_its_own_subscribers(settings):
    notifications = Notifications(settings)
    first, second, other = Heard(), Heard(), Heard()
    notifications.subscribe("test_one", first)
    notifications.subscribe("test_one", second)
    notifications.subscribe("test_two", other)
    assert notifications.channels == ("test_one", "test_two")
    async with listening(notifications, asyncio.Event()):
        assert (first.payloads, second.payloads, other.payloads) == ([None], [None], [None])  # connected
        await asyncio.to_thread(notify, settings, "test_one", "tenant-1")
        await asyncio.to_thread(notify, settings, "test_one", "")  # an empty payload: everything
        await asyncio.to_thread(notify, settings, "test_two", "tenant-2")
        assert await first.until(3) == [None, "tenant-1", None]
        assert await second.until(3) == [None, "tenant-1", None]
        assert await other.until(2) == [None, "tenant-2"]


async def test_a_lost_connection_is_reopened_and_everything_is_forgotten(settings):
    notifications = Notifications(settings)
    heard = Heard()
    notifications.subscribe("test_reconnect", heard)
    ready = asyncio.Event()
    assert not notifications.connected
    async with listening(notifications, ready):
        assert notifications.connected
        first_pid = notifications.backend_pid
        ready.clear()
        with psycopg.connect(to_libpq_url(settings.database_url), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (first_pid,))
        await asyncio.wait_for(ready.wait(), 30)  # reconnected after the backoff
        assert notifications.connected
        assert notifications.backend_pid != first_pid
        assert heard.payloads == [None, None]  # what was sent meanwhile is lost: forget everything
        await asyncio.to_thread(notify, settings, "test_reconnect", "tenant-3")
        assert await heard.until(3) == [None, None, "tenant-3"]


def test_channels_are_plain_names_subscribed_before_listening(settings):
    notifications = Notifications(settings)
    with pytest.raises(ValueError, match="not a channel name"):
        notifications.subscribe("x; DROP TABLE tenant", lambda _payload: None)


def test_entry_lifetime_follows_the_connection(settings):
    notifications = Notifications(settings)
    assert entry_lifetime(30, notifications) == 30  # not listening: the TTL
    assert entry_lifetime(30, None) == 30
    notifications.connected = True
    assert entry_lifetime(30, notifications) == KEPT_WHILE_LISTENING
    assert entry_lifetime(7200, notifications) == 7200
    assert entry_lifetime(0, notifications) == 0  # a cache turned off stays off


async def test_subscribing_after_listening_started_is_refused(settings):
    notifications = Notifications(settings)
    notifications.subscribe("test_late", lambda _payload: None)
    async with listening(notifications, asyncio.Event()):
        with pytest.raises(RuntimeError, match="subscribe before"):
            notifications.subscribe("test_late", lambda _payload: None)
