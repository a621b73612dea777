"""The process's realtime hub: one reader of the subscribed channels' streams, and the local connections.

Every event is a Redis stream entry (`platform_core/kernel/realtime.py`), so every API process reads
every event of the channels its own connections subscribe to, whichever process or worker published it.
One task per process reads them all with one blocking XREAD over the subscribed keys, from the last
entry it handed out of each, and hands each entry to the local subscribers. When the set of keys
changes, the reader is woken through a stream of its own (`rt:wake:<process>`), so the XREAD is issued
again with the new keys at once, without polling and without cancelling a command mid-flight.

A new subscription is registered at a known position of its stream (the last entry handed out): every
later entry reaches it through the reader; the entries after the client's `offset` up to that position
are read with XRANGE and sent first, while live ones wait in the subscription, so the client gets each
event once and in order.

Connection counts per tenant are shared by every process through a sorted set per tenant
(`rt:conns:<tenant>`, a member per connection scored by its lease's expiry, renewed by its process), so
a process that dies leaves no count behind for long; message rates through a counter per tenant and
second (`rt:rate:<tenant>:<second>`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from platform_core.kernel.realtime import STREAM_MAXLEN, stream_key
from platform_core.realtime import metrics
from platform_core.realtime.settings import RealtimeSettings

if TYPE_CHECKING:
    from platform_core.realtime.connection import Connection

logger = logging.getLogger("platform.realtime")

EPHEMERAL_MAXLEN = 100
CONNECTION_LEASE_SECONDS = 60
_OFFSET = re.compile(r"^\d{1,20}-\d{1,20}$")
_ADMIT = """
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[4]), ARGV[2])
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]) * 2)
return 1
"""


def ephemeral_key(tenant_id: uuid.UUID | str, channel: str) -> str:
    """The short stream of a channel's client events (typing, presence): relayed, never resumed."""
    return "rtx:" + stream_key(tenant_id, channel).removeprefix("rt:")


def parse_offset(value: object) -> tuple[int, int] | None:
    """An offset (`<ms>-<seq>`, a stream entry id) as a comparable pair; None if it is not one."""
    if not isinstance(value, str) or not _OFFSET.match(value):
        return None
    ms, seq = value.split("-")
    return int(ms), int(seq)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def event_frame(channel: str, fields: dict[Any, Any], offset: str | None) -> str:
    """The `event` message of a stream entry, as sent (its data is JSON already: not parsed again)."""
    event = _text(fields.get(b"event", fields.get("event", b"")))
    data = _text(fields.get(b"data", fields.get("data", b"null")))
    return (
        f'{{"type":"event","channel":{json.dumps(channel)},"event":{json.dumps(event)},'
        f'"data":{data},"offset":{json.dumps(offset)}}}'
    )


def entry_user(fields: dict[Any, Any]) -> str | None:
    """The user an entry is restricted to, if any."""
    user = fields.get(b"user", fields.get("user"))
    return _text(user) if user is not None else None


@dataclass(eq=False)
class Subscription:
    """One connection's subscription to one channel (its stream, and its client events if any)."""

    conn: Connection
    channel: str
    key: str
    ephemeral: str | None = None
    # Live events that arrived while the backlog after the client's offset was being sent.
    pending: list[str] | None = field(default_factory=list)

    def deliver(self, text: str) -> None:
        """Send an event now, or after the backlog."""
        if self.pending is not None:
            self.pending.append(text)
            if len(self.pending) > self.conn.settings.send_queue_size:
                self.conn.end_slow()
        else:
            self.conn.offer(text)

    def flush(self) -> None:
        """The backlog was sent: send what waited, then deliver live."""
        pending, self.pending = self.pending or [], None
        for text in pending:
            self.conn.offer(text)


class Hub:
    """The process's realtime reader and its connections."""

    def __init__(self, redis_url: str, settings: RealtimeSettings) -> None:
        self.settings = settings
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=2)
        self.block_ms = 5000
        self.read_count = 500  # entries per stream per XREAD
        # The blocking reader has a connection of its own, with room for the block in its timeout.
        self.reader_redis = aioredis.Redis.from_url(
            redis_url, socket_timeout=self.block_ms / 1000 + 5, socket_connect_timeout=2
        )
        self.wake_key = f"rt:wake:{uuid.uuid4().hex}"
        self.positions: dict[str, str] = {}  # stream key -> last entry handed out
        self.subscribers: dict[str, dict[Subscription, None]] = {}
        self.connections: set[Connection] = set()
        self._changed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._admit = self.redis.register_script(_ADMIT)
        self.stopping = False
        self.refusing = False  # set when the server is going down: new connections are turned away

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the reader and the connection leases."""
        self._tasks = [asyncio.create_task(self._read_loop()), asyncio.create_task(self._lease_loop())]

    async def stop(self, code: int = 1001, reason: str = "going away") -> None:
        """Close every connection ("going away": clients reconnect elsewhere), then stop reading."""
        self.refusing = True
        self.close_all(code, reason)
        for conn in list(self.connections):
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.finished.wait(), 5)
        self.stopping = True
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.wake_key)
        await self.redis.aclose()
        await self.reader_redis.aclose()

    def close_all(self, code: int = 1001, reason: str = "going away") -> None:
        """Ask every connection of this process to close (from the event loop)."""
        for conn in list(self.connections):
            conn.end(code, reason)

    # --- connections ---------------------------------------------------------------------------

    async def admit(self, conn: Connection) -> bool:
        """Count a new connection against its tenant's limit (every process); False when over it."""
        admitted = await self._admit(
            keys=[f"rt:conns:{conn.tenant.id}"],
            args=[time.time(), conn.id, self.settings.max_connections_per_tenant, CONNECTION_LEASE_SECONDS],
        )
        if admitted:
            self.connections.add(conn)
            metrics.CONNECTIONS.inc()
        return bool(admitted)

    async def release(self, conn: Connection) -> None:
        """Forget a closed connection and its subscriptions."""
        if conn in self.connections:
            self.connections.discard(conn)
            metrics.CONNECTIONS.dec()
        for sub in list(conn.subscriptions.values()):
            self.remove(sub)
        conn.subscriptions.clear()
        with contextlib.suppress(RedisError, OSError):
            await self.redis.zrem(f"rt:conns:{conn.tenant.id}", conn.id)

    async def count_message(self, tenant_id: uuid.UUID) -> bool:
        """Count a client message against its tenant's rate; False when over it."""
        key = f"rt:rate:{tenant_id}:{int(time.time())}"
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                pipe.incr(key)
                pipe.expire(key, 3)
                count, _ = await pipe.execute()
        except (RedisError, OSError) as exc:  # the limit is protection, not a reason to drop clients
            logger.warning("realtime: could not count a message (%s); letting it through", exc)
            return True
        return int(count) <= self.settings.max_messages_per_second_per_tenant

    async def _lease_loop(self) -> None:
        while True:
            await asyncio.sleep(CONNECTION_LEASE_SECONDS / 3)
            expires = time.time() + CONNECTION_LEASE_SECONDS
            by_tenant: dict[str, dict[str, float]] = {}
            for conn in self.connections:
                by_tenant.setdefault(f"rt:conns:{conn.tenant.id}", {})[conn.id] = expires
            try:
                async with self.redis.pipeline(transaction=False) as pipe:
                    for key, members in by_tenant.items():
                        # Plain ZADD: a set that expired (Redis restarted, say) counts its live members again.
                        pipe.zadd(key, members)
                        pipe.expire(key, CONNECTION_LEASE_SECONDS * 2)
                    await pipe.execute()
            except (RedisError, OSError) as exc:
                logger.warning("realtime: could not renew connection leases: %s", exc)

    # --- subscriptions -------------------------------------------------------------------------

    async def add(self, sub: Subscription) -> str:
        """Register a subscription; the position of its stream from which the reader feeds it."""
        for key in self._keys(sub):
            if key not in self.positions:
                last = await self._last_id(key)
                if key not in self.positions:  # another subscriber may have started it meanwhile
                    self.positions[key] = last
                    metrics.SUBSCRIBED_STREAMS.inc()
                    self._wake()
        # No await from here on: the subscription gets every entry after this position live.
        for key in self._keys(sub):
            self.subscribers.setdefault(key, {})[sub] = None
        return self.positions[sub.key]

    def remove(self, sub: Subscription) -> None:
        """Stop feeding a subscription; a stream nobody here subscribes to is no longer read."""
        for key in self._keys(sub):
            subs = self.subscribers.get(key)
            if subs is None:
                continue
            subs.pop(sub, None)
            if not subs:
                del self.subscribers[key]
                if self.positions.pop(key, None) is not None:
                    metrics.SUBSCRIBED_STREAMS.dec()
                self._wake()

    async def backlog(self, sub: Subscription, offset: str, upto: str) -> bool:
        """Send the entries after `offset` up to `upto`; False when the history after it is gone."""
        wanted, last = parse_offset(offset), parse_offset(upto)
        assert wanted is not None
        assert last is not None
        if wanted > last:  # an offset this stream never had (a reset stream, another channel's)
            return False
        if wanted == last:
            return True
        if not await self._history_kept_after(sub.key, wanted):
            return False
        entries: Any = await self.redis.xrange(sub.key, min=f"({offset}", max=upto)
        user = str(sub.conn.user_id)
        for entry_id, fields in entries:
            owner = entry_user(fields)
            if owner is None or owner == user:
                sub.conn.offer(event_frame(sub.channel, fields, _text(entry_id)))
        return True

    async def _history_kept_after(self, key: str, wanted: tuple[int, int]) -> bool:
        """Whether the stream still holds every entry after `wanted`."""
        try:
            info = await self.redis.xinfo_stream(key)
        except RedisError:  # no such stream: its whole history is gone
            return False
        added, length = info.get("entries-added"), int(info.get("length") or 0)
        if added is not None and int(added) == length:
            return True  # nothing was ever trimmed or deleted (Redis 7): the whole history is there
        if length < STREAM_MAXLEN:
            return True  # trimming only ever takes a stream down to its cap: it never reached it
        first = info.get("first-entry")
        if not first:  # empty: whatever came after `wanted` was trimmed (or never existed)
            return int(info.get("entries-added") or 0) == 0
        if (parse_offset(_text(first[0])) or (0, 0)) <= wanted:
            return True  # the stream still starts at or before it
        # It starts after `wanted`: kept only if nothing after `wanted` was trimmed. Redis 7 records the
        # last id removed; some versions leave it at 0-0 for trimming, which tells nothing: reload.
        deleted = parse_offset(_text(info.get("max-deleted-entry-id") or "0-0")) or (0, 0)
        return (0, 0) < deleted <= wanted

    @staticmethod
    def _keys(sub: Subscription) -> Iterable[str]:
        return (sub.key, sub.ephemeral) if sub.ephemeral else (sub.key,)

    async def _last_id(self, key: str) -> str:
        entries: Any = await self.redis.xrevrange(key, count=1)
        return _text(entries[0][0]) if entries else "0-0"

    def _wake(self) -> None:
        self._changed.set()
        task = asyncio.get_running_loop().create_task(self._send_wake())
        task.add_done_callback(lambda t: t.cancelled() or t.exception())

    async def _send_wake(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.xadd(self.wake_key, {"w": "1"}, maxlen=1)
            await self.redis.expire(self.wake_key, 86400)

    # --- the reader ----------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        failures = 0
        while not self.stopping:
            if not self.positions:
                self._changed.clear()
                await self._changed.wait()
                continue
            self._changed.clear()
            streams: dict[Any, Any] = {self.wake_key: "$", **self.positions}
            try:
                result: Any = await self.reader_redis.xread(
                    streams, count=self.read_count, block=self.block_ms
                )
                failures = 0
            except (RedisError, OSError) as exc:
                failures += 1
                logger.warning("realtime: reading the streams failed (%s); retrying", exc)
                await asyncio.sleep(min(5.0, 0.2 * 2**failures))
                continue
            for raw_key, entries in result or []:
                key = _text(raw_key)
                if key == self.wake_key or key not in self.positions:
                    continue
                if len(entries) >= self.read_count and not key.startswith("rtx:"):
                    # A full batch: this reader lags; the stream's cap may have trimmed entries after
                    # the position it read from before it got to them.
                    await self._check_gap(key, self.positions[key])
                for entry_id, fields in entries:
                    self.positions[key] = _text(entry_id)
                    self._dispatch(key, _text(entry_id), fields)

    async def _check_gap(self, key: str, position: str) -> None:
        """Tell the subscribers of `key` when events after `position` were trimmed unread."""
        wanted = parse_offset(position)
        if wanted is None or await self._history_kept_after(key, wanted):
            return
        logger.warning("realtime: the reader fell behind %s; its subscribers are told to reload", key)
        for sub in list(self.subscribers.get(key, ())):
            sub.conn.error(
                "events_lost",
                "Events were published faster than they could be delivered: reload, then follow live events.",
                sub.channel,
            )

    def _dispatch(self, key: str, entry_id: str, fields: dict[Any, Any]) -> None:
        subs = self.subscribers.get(key)
        if not subs:
            return
        first = next(iter(subs))
        ephemeral = key.startswith("rtx:")
        text = event_frame(first.channel, fields, None if ephemeral else entry_id)
        owner = entry_user(fields)
        delivered = 0
        for sub in list(subs):
            if owner is None or owner == str(sub.conn.user_id):
                sub.deliver(text)
                delivered += 1
        metrics.DELIVERED.inc(delivered)
