"""One WebSocket connection: its protocol, its bounded send queue, its subscriptions.

Client messages (JSON objects with a `type`): `subscribe` {channel, offset?}, `unsubscribe` {channel},
`publish` {channel, event?, data}, `ping` {id?}. Server messages: `subscribed` {channel, offset},
`unsubscribed` {channel}, `event` {channel, event, data, offset}, `error` {code, channel, message},
`pong` {id}. Bad input is an `error`, never an exception: a connection's failure ends that connection
only, and never another.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import re
import uuid
from typing import Any

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocket, WebSocketDisconnect

from platform_core.access.principal import (
    Principal,
    PrincipalKind,
    principal_of_api_key_hash,
    principal_of_session,
)
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.engines import Database
from platform_core.kernel.errors import AppError, Unauthorized
from platform_core.kernel.realtime import stream_key
from platform_core.kernel.tenancy import TenantResolver, check_tenant_access
from platform_core.realtime import channels, metrics
from platform_core.realtime.hub import EPHEMERAL_MAXLEN, Hub, Subscription, ephemeral_key, parse_offset
from platform_core.realtime.settings import RealtimeSettings
from platform_core.realtime.tickets import TicketClaims

logger = logging.getLogger("platform.realtime")

# Close codes (README "Realtime").
CLOSE_GOING_AWAY = 1001
CLOSE_TOO_BIG = 1009
CLOSE_TRY_AGAIN = 1013
CLOSE_UNAUTHORIZED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_SLOW = 4408
CLOSE_LIMITED = 4429
_EVENT_NAME = re.compile(r"^[a-z][a-z0-9_.]{0,49}$")


ACK_MEMORY_SECONDS = 24 * 3600  # how long a client `ref` is remembered against a resend


class Connection:
    """A tenant principal's WebSocket: reads client messages, sends events through a bounded queue."""

    def __init__(
        self,
        websocket: WebSocket,
        *,
        hub: Hub,
        db: Database,
        resolver: TenantResolver,
        tenant: TenantContext,
        claims: TicketClaims,
        principal: Principal,
    ) -> None:
        self.id = uuid.uuid4().hex
        self.websocket = websocket
        self.hub = hub
        self.settings: RealtimeSettings = hub.settings
        self.db = db
        self.resolver = resolver
        self.tenant = tenant
        self.claims = claims
        self.principal = principal
        self.user_id = principal.user_id
        self.queue: asyncio.Queue[str] = asyncio.Queue(maxsize=self.settings.send_queue_size)
        self.subscriptions: dict[str, Subscription] = {}
        self.may_publish: set[str] = set()
        self.close_code: int | None = None
        self.close_reason = ""
        self.ended = asyncio.Event()
        self.finished = asyncio.Event()
        self._reader: asyncio.Task[Any] | None = None
        self._stopped_by_end = False
        self._revalidation: asyncio.TimerHandle | None = None

    # --- ending --------------------------------------------------------------------------------

    def end(self, code: int | None, reason: str = "") -> None:
        """End the connection (closing it with `code` when the server ends it)."""
        if self.ended.is_set():
            return
        self.close_code, self.close_reason = code, reason
        self.ended.set()
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            self._stopped_by_end = True
            reader.cancel()  # it may be waiting for the client: stop waiting

    def end_slow(self) -> None:
        """The client does not read what it is sent: drop it rather than grow memory."""
        if not self.ended.is_set():
            logger.info(
                "realtime: closing a connection whose client does not read (tenant %s)", self.tenant.slug
            )
        self.end(CLOSE_SLOW, "send queue full: the client does not read")

    # --- sending -------------------------------------------------------------------------------

    def offer(self, text: str) -> None:
        """Queue a message; a full queue ends the connection."""
        if self.ended.is_set():
            return
        try:
            self.queue.put_nowait(text)
        except asyncio.QueueFull:
            self.end_slow()

    def send(self, message: dict[str, Any]) -> None:
        """Queue a protocol message."""
        self.offer(json.dumps(message, separators=(",", ":")))

    def error(self, code: str, message: str, channel: str | None = None) -> None:
        """Queue an `error` message."""
        self.send({"type": "error", "code": code, "channel": channel, "message": message})

    # --- running -------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until the client leaves or the server ends it; then close it.

        Two tasks per connection, for memory: this one reads the client's messages, one more sends. The
        re-check of the principal is a timer that starts a short task only when it is due.
        """
        self._reader = asyncio.current_task()
        sender = asyncio.create_task(self._send_loop())
        sender.add_done_callback(self._sender_done)
        self._schedule_revalidation()
        try:
            await self._receive_loop()
        except asyncio.CancelledError:
            if not self._stopped_by_end:
                raise  # cancelled from outside (the server's own shutdown): not ours to swallow
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()  # our own stop, consumed here: the closing below may await
        except (WebSocketDisconnect, OSError):
            self.end(None)
        except Exception:
            logger.exception("realtime: connection failed")
            self.end(1011, "internal error")
        finally:
            self._reader = None
            if self._revalidation is not None:
                self._revalidation.cancel()
            sender.cancel()
            with contextlib.suppress(BaseException):
                await sender
            await self.hub.release(self)
            if self.close_code is not None:
                metrics.CLOSED.labels(str(self.close_code)).inc()
                # A client that does not read may never let the close frame through: bounded.
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(self.websocket.close(self.close_code, self.close_reason), 2)
            self.finished.set()

    def _sender_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect | OSError):
            logger.error("realtime: sending failed", exc_info=exc)
        self.end(None if exc is not None else 1011, "")

    async def _send_loop(self) -> None:
        while True:
            text = await self.queue.get()
            await self.websocket.send_text(text)

    async def _receive_loop(self) -> None:
        while not self.ended.is_set():
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                self.end(None)
                return
            raw = message.get("text")
            if raw is None and message.get("bytes") is not None:
                raw = message["bytes"].decode("utf-8", errors="replace")
            if raw is None:
                continue
            if len(raw.encode()) > self.settings.max_message_bytes:
                self.end(CLOSE_TOO_BIG, "message too big")
                return
            if not await self.hub.count_message(self.tenant.id):
                self.end(CLOSE_LIMITED, "message rate exceeded")
                return
            await self.handle(raw)

    def _schedule_revalidation(self) -> None:
        loop = asyncio.get_running_loop()
        # Spread over +-20%: connections opened together (after a deploy) are not all checked at once.
        delay = self.settings.revalidate_seconds * random.uniform(0.8, 1.2)  # noqa: S311 - not a secret
        self._revalidation = loop.call_later(delay, self._revalidate_now)

    def _revalidate_now(self) -> None:
        if self.ended.is_set():
            return
        task = asyncio.get_running_loop().create_task(self.revalidate())
        task.add_done_callback(self._revalidated)

    def _revalidated(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and (exc := task.exception()) is not None:
            logger.warning("realtime: re-checking a connection failed: %s", exc)
        if not self.ended.is_set():
            self._schedule_revalidation()

    # --- the protocol --------------------------------------------------------------------------

    async def handle(self, raw: str) -> None:
        """Answer one client message."""
        try:
            message = json.loads(raw)
        except ValueError:
            self.error("bad_message", "Messages are JSON objects.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.error("bad_message", 'Messages are JSON objects with a "type".')
            return
        kind = message["type"]
        if kind == "ping":
            pong: dict[str, Any] = {"type": "pong"}
            if isinstance(message.get("id"), str | int):
                pong["id"] = message["id"]
            self.send(pong)
        elif kind == "subscribe":
            await self.subscribe(message.get("channel"), message.get("offset"))
        elif kind == "unsubscribe":
            self.unsubscribe(message.get("channel"))
        elif kind == "publish":
            await self.publish(message.get("channel"), message.get("event"), message.get("data"))
        else:
            self.error("unknown_type", f"Unknown message type {str(kind)[:50]!r}.")

    async def subscribe(self, channel: object, offset: object) -> None:
        """Check the channel against the principal as it is now, then feed it (after `offset`)."""
        parts = channels.split(channel) if isinstance(channel, str) else None
        if parts is None or not isinstance(channel, str):
            self.error("invalid_channel", "Not a channel name.", _echo(channel))
            return
        if offset is not None and parse_offset(offset) is None:
            self.error("invalid_offset", "An offset is the `offset` of an event received.", channel)
            return
        if channel in self.subscriptions:
            self.error("already_subscribed", "Already subscribed.", channel)
            return
        if len(self.subscriptions) >= self.settings.max_subscriptions:
            self.error("too_many_subscriptions", "Unsubscribe from a channel first.", channel)
            return
        kind, suffix = parts
        if not await self._may(channels.AUTHORIZERS, kind, suffix) or self.ended.is_set():
            # The same answer for a channel that does not exist and one the caller may not read.
            self.error("forbidden", "No such channel, or no access to it.", channel)
            return
        sub = Subscription(
            conn=self,
            channel=channel,
            key=stream_key(self.tenant.id, channel),
            ephemeral=ephemeral_key(self.tenant.id, channel) if kind in channels.CLIENT_PUBLISH else None,
        )
        self.subscriptions[channel] = sub
        try:
            upto = await self.hub.add(sub)
            self.send({"type": "subscribed", "channel": channel, "offset": upto})
            if isinstance(offset, str) and not await self.hub.backlog(sub, offset, upto):
                self.error(
                    "resume_unavailable",
                    "The events after this offset are no longer kept: reload, then follow live events.",
                    channel,
                )
        except (RedisError, OSError) as exc:
            logger.warning("realtime: subscribing failed, Redis unavailable (%s)", exc)
            self.subscriptions.pop(channel, None)
            self.hub.remove(sub)
            self.error("unavailable", "Subscribing failed for now: try again.", channel)
            return
        sub.flush()

    def unsubscribe(self, channel: object) -> None:
        """Stop a subscription."""
        sub = self.subscriptions.pop(channel, None) if isinstance(channel, str) else None
        if sub is None:
            self.error("not_subscribed", "Not subscribed to this channel.", _echo(channel))
            return
        self.hub.remove(sub)
        self.may_publish.discard(sub.channel)
        self.send({"type": "unsubscribed", "channel": sub.channel})

    async def publish(self, channel: object, event: object, data: object) -> None:
        """Relay an ephemeral client event (typing, presence) to the channel's subscribers."""
        parts = channels.split(channel) if isinstance(channel, str) else None
        if parts is None or not isinstance(channel, str):
            self.error("invalid_channel", "Not a channel name.", _echo(channel))
            return
        name = "message" if event is None else event
        if not isinstance(name, str) or not _EVENT_NAME.match(name):
            self.error("invalid_event", "An event name is lower-case letters, digits, _ and .", channel)
            return
        kind, suffix = parts
        if name == "message" and kind in channels.CLIENT_MESSAGES:
            await self.store(channel, kind, suffix, data)
            return
        if channel not in self.may_publish:
            if not await self._may(channels.CLIENT_PUBLISH, kind, suffix):
                self.error("forbidden", "Clients may not publish on this channel.", channel)
                return
            self.may_publish.add(channel)
        payload = {"user_id": str(self.user_id), "data": data}
        with contextlib.suppress(RedisError, OSError):  # ephemeral: a lost typing indicator is harmless
            await self.hub.redis.xadd(
                ephemeral_key(self.tenant.id, channel),
                {"event": f"client.{name}", "data": json.dumps(payload, separators=(",", ":"))},
                maxlen=EPHEMERAL_MAXLEN,
                approximate=True,
            )

    async def store(self, channel: str, kind: str, suffix: str, data: object) -> None:
        """Store a client's message through its domain, then acknowledge it (`published`).

        The message is committed before the acknowledgement, so an acknowledged message is never lost;
        a `ref` the client chose (at most 64 characters) makes a resend after a lost acknowledgement
        answer the first acknowledgement again instead of storing the message twice.
        """
        ref = data.get("ref") if isinstance(data, dict) else None
        if ref is not None and (not isinstance(ref, str) or not 1 <= len(ref) <= 64):
            self.error("invalid_ref", "`ref` is a string of 1 to 64 characters.", channel)
            return
        seen = f"rt:ack:{self.tenant.id}:{self.user_id}:{ref}" if ref else None
        try:
            if seen is not None:
                earlier = await self.hub.redis.get(seen)
                if earlier is not None:
                    self.send(json.loads(earlier))
                    return
            ack = await self._store(kind, suffix, data)
            if ack is None:
                return
            answer = {"type": "published", "channel": channel, **ack, **({"ref": ref} if ref else {})}
            if seen is not None:
                await self.hub.redis.set(seen, json.dumps(answer), ex=ACK_MEMORY_SECONDS)
        except (RedisError, OSError) as exc:
            logger.warning("realtime: a client message could not be checked, Redis unavailable (%s)", exc)
            self.error("unavailable", "The message was not sent: try again.", channel)
            return
        self.send(answer)

    async def _store(self, kind: str, suffix: str, data: object) -> dict[str, Any] | None:
        store = channels.CLIENT_MESSAGES[kind]
        channel = f"{kind}.{suffix}"
        async with self.db.session(self.tenant.schema_name) as session:
            try:
                self.principal = await load_principal(session, self.tenant, self.claims, self.principal.ip)
                ack = await store(session, self.principal, suffix, data)
                await session.commit()
            except Unauthorized:
                self.end(CLOSE_UNAUTHORIZED, "the session or key behind this connection has ended")
                return None
            except AppError as exc:
                await session.rollback()
                self.error(exc.code, exc.message, channel)
                return None
        return ack

    async def revalidate(self) -> None:
        """Check the principal and every subscription again; end what it may no longer read."""
        self.may_publish.clear()
        for channel, sub in list(self.subscriptions.items()):
            kind, suffix = channels.split(channel) or ("", "")
            if not await self._may(channels.AUTHORIZERS, kind, suffix):
                if self.ended.is_set():
                    return
                self.subscriptions.pop(channel, None)
                self.hub.remove(sub)
                self.error("forbidden", "No longer allowed to read this channel.", channel)

    async def _may(self, registry: dict[str, channels.Authorizer], kind: str, suffix: str) -> bool:
        """Ask the kind's authorizer, with the tenant and the principal as they are now."""
        authorizer = registry.get(kind)
        if authorizer is None:
            return False
        try:
            tenant = (await self.resolver.resolve(self.websocket.headers.get("host"))).tenant
            if tenant is None or tenant.id != self.tenant.id:
                self.end(CLOSE_FORBIDDEN, "this workspace is no longer served here")
                return False
            check_tenant_access(tenant)
        except AppError as exc:
            self.end(CLOSE_FORBIDDEN, exc.message[:120])
            return False
        async with self.db.session(self.tenant.schema_name) as session:
            try:
                self.principal = await load_principal(session, self.tenant, self.claims, self.principal.ip)
            except Unauthorized:
                self.end(CLOSE_UNAUTHORIZED, "the session or key behind this connection has ended")
                return False
            try:
                allowed = await authorizer(session, self.principal, suffix)
            except Exception:
                logger.exception("realtime: the authorizer of %r failed; refusing", kind)
                allowed = False
            await session.commit()
        return bool(allowed)


async def load_principal(
    session: AsyncSession, tenant: TenantContext, claims: TicketClaims, ip: str | None
) -> Principal:
    """The ticket's principal as it is now (401 when the user, session or key is gone)."""
    if claims.kind == PrincipalKind.API_KEY.value and claims.api_key_hash:
        return await principal_of_api_key_hash(session, claims.api_key_hash, tenant, ip=ip)
    if claims.session_id is None:
        raise Unauthorized("The ticket names no session.")
    return await principal_of_session(session, tenant, claims.user_uuid, uuid.UUID(claims.session_id), ip=ip)


def _echo(channel: object) -> str | None:
    return channel[:100] if isinstance(channel, str) else None
