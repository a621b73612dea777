"""The process's one LISTEN connection: PostgreSQL notifications handed to subscribers by channel.

Per-process caches (host resolution, principals, billing state) are dropped per tenant when another
process commits a change and sends `pg_notify(<channel>, <tenant id>)`. Each cache subscribes a
callback to its channel; the app factory wires them and runs `Notifications.listen` for the life of
the process. A callback gets the payload (a tenant id), or None for "forget everything": an empty
payload says so, and so does every (re)connection, since notifications sent while the connection was
down are lost. The connection is re-opened with backoff forever, so a database restart costs nothing
but a cold cache; each cache's TTL bounds what it serves stale while the connection is down.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import psycopg

from platform_core.kernel.settings import Settings, to_libpq_url

logger = logging.getLogger("platform.db")
Subscriber = Callable[[str | None], None]
_CHANNEL = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # an unquoted identifier: safe to put into LISTEN
_FIRST_DELAY = 0.5
_MAX_DELAY = 30.0


class Notifications:
    """Subscriptions by channel, and the loop that listens for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._listening = False
        self.backend_pid: int | None = None  # the listening connection's server process, once connected

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels subscribed to, in subscription order."""
        return tuple(self._subscribers)

    def subscribe(self, channel: str, callback: Subscriber) -> None:
        """Call `callback(payload)` for each notification on `channel` (None: forget everything)."""
        if not _CHANNEL.match(channel):
            raise ValueError(f"not a channel name: {channel!r}")
        if self._listening:
            raise RuntimeError("subscribe before listening starts: the connection LISTENs once")
        self._subscribers.setdefault(channel, []).append(callback)

    def _forget_everything(self) -> None:
        for callbacks in self._subscribers.values():
            for callback in callbacks:
                callback(None)

    def _deliver(self, channel: str, payload: str) -> None:
        for callback in self._subscribers.get(channel, ()):
            callback(payload or None)

    async def listen(self, *, ready: asyncio.Event | None = None) -> None:
        """LISTEN on every subscribed channel and deliver notifications until cancelled; reconnect
        with backoff, telling every subscriber to forget everything each time (set `ready` then)."""
        self._listening = True
        delay = _FIRST_DELAY
        url = to_libpq_url(self.settings.database_url)
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    url, autocommit=True, application_name="platform-listener"
                )
                async with conn:
                    self.backend_pid = conn.info.backend_pid
                    for channel in self._subscribers:
                        await conn.execute(f"LISTEN {channel}")
                    self._forget_everything()  # whatever was sent while not listening is lost
                    if ready is not None:
                        ready.set()
                    delay = _FIRST_DELAY
                    async for notice in conn.notifies():
                        self._deliver(notice.channel, notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # keep listening through database restarts
                logger.warning("change listener disconnected: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)
