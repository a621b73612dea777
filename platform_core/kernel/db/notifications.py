"""The process's one LISTEN connection: PostgreSQL notifications handed to subscribers by channel.

Per-process caches (host resolution, principals, billing state) are dropped per tenant when another
process commits a change and sends `pg_notify(<channel>, <tenant id>)`. Each cache subscribes a
callback to its channel; the app factory wires them and runs `Notifications.listen` for the life of
the process. A callback gets the payload (a tenant id), or None for "forget everything": an empty
payload says so, and so does every (re)connection, since notifications sent while the connection was
down are lost. The connection is re-opened with backoff forever, so a database restart costs nothing
but a cold cache. TCP keepalives make a silently dead connection fail within about a minute.

While the connection is up, every change the platform makes reaches the caches, so they keep an
entry until a notification drops it (`entry_lifetime`: at most KEPT_WHILE_LISTENING, which bounds a
change made by hand without a notification); while it is down, each cache's TTL bounds what it
serves stale, and the reconnection forgets everything.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable

import psycopg
from psycopg.conninfo import make_conninfo

from platform_core.kernel.settings import Settings, to_libpq_url

logger = logging.getLogger("platform.db")
Subscriber = Callable[[str | None], None]
_CHANNEL = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")  # an unquoted identifier: safe to put into LISTEN
_FIRST_DELAY = 0.5
_MAX_DELAY = 30.0
# A dead peer is noticed after 30 s idle + 3 probes 10 s apart, instead of waiting forever on recv().
_KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}
KEPT_WHILE_LISTENING = 3600.0  # seconds a cache entry is kept while the listener is connected


class Notifications:
    """Subscriptions by channel, and the loop that listens for them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._subscribers: dict[str, list[Subscriber]] = {}
        self._listening = False
        self.backend_pid: int | None = None  # the listening connection's server process, once connected
        self.connected = False  # LISTENing now: every notification sent from here on is delivered

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
                    make_conninfo(url, application_name="platform-listener", **_KEEPALIVES),
                    autocommit=True,
                )
                async with conn:
                    self.backend_pid = conn.info.backend_pid
                    for channel in self._subscribers:
                        await conn.execute(f"LISTEN {channel}")
                    self._forget_everything()  # whatever was sent while not listening is lost
                    self.connected = True
                    if ready is not None:
                        ready.set()
                    delay = _FIRST_DELAY
                    async for notice in conn.notifies():
                        self._deliver(notice.channel, notice.payload)
            except asyncio.CancelledError:
                self.connected = False
                raise
            except Exception as exc:  # keep listening through database restarts
                self.connected = False
                logger.warning("change listener disconnected: %s; retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, _MAX_DELAY)
            finally:
                self.connected = False


def entry_lifetime(ttl: float, notifications: Notifications | None) -> float:
    """Seconds a per-process cache entry stored now may be served: 0 when the cache is off (`ttl`
    0); while `notifications` is connected, until a notification drops it (at most
    KEPT_WHILE_LISTENING, or `ttl` if longer); otherwise `ttl`."""
    if ttl <= 0:
        return 0.0
    if notifications is not None and notifications.connected:
        return max(ttl, KEPT_WHILE_LISTENING)
    return ttl
