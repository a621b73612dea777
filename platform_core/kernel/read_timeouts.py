"""Deadlines for reading requests, so a slow or stalled client cannot hold a connection.

uvicorn bounds only the wait between requests (`timeout_keep_alive`): a client that sends part of its
headers, or announces a longer body than it sends, is waited for as long as it keeps the socket open.
Two pieces close that gap:

- `HeaderDeadlineProtocol`, the HTTP protocol `platformctl serve` runs: a request's headers must be
  complete within REQUEST_HEADER_TIMEOUT_SECONDS of a connection's first byte (or of the first byte
  after a response); otherwise the client gets a 408 and the connection is closed.
- `BodyReadTimeoutMiddleware`: every wait for the next part of a request body is bounded by
  REQUEST_BODY_TIMEOUT_SECONDS; when it runs out the client gets a 408 in the error format and the
  connection is closed.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from platform_core.kernel.error_handlers import error_response
from platform_core.kernel.settings import get_settings

TIMEOUT_CODE = "request_timeout"
HEADER_MESSAGE = "The request headers did not arrive in time."
BODY_MESSAGE = "The request body did not arrive in time."


def _raw_408(message: str) -> bytes:
    """A complete HTTP/1.1 408 response in the error format, closing the connection."""
    body = json.dumps({"error": {"code": TIMEOUT_CODE, "message": message, "details": None}}).encode()
    head = (
        "HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("latin-1") + body


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline for the headers of each request."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """Read the header timeout from the settings."""
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().request_header_timeout_seconds
        self.header_deadline: asyncio.TimerHandle | None = None
        self.reading_headers = False

    # uvicorn's signature, narrower than asyncio.Protocol's (uvicorn ignores the same override error).
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Start the deadline: a new connection must send its first request's headers in time."""
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Parse, then keep a deadline running while no request is being answered."""
        super().data_received(data)
        if self._upgraded():  # a WebSocket now owns the connection: no HTTP deadline applies to it
            self._disarm()
            return
        idle = self.cycle is None or self.cycle.response_complete
        if idle and self.timeout_keep_alive_task is None and not self.transport.is_closing():
            # Part of the next request's headers, or the rest of a body whose request was answered
            # already: uvicorn cancelled its keep-alive timer on these bytes and arms none again.
            self._arm()

    def on_message_begin(self) -> None:
        """Note that a request's headers are being read."""
        super().on_message_begin()
        self.reading_headers = True

    def on_headers_complete(self) -> None:
        """Stop the deadline: from here on the body timeout (middleware) applies."""
        self.reading_headers = False
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        """Drop the deadline with the connection."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.header_deadline is None:
            self.header_deadline = self.loop.call_later(self.header_timeout, self._expired)

    def _disarm(self) -> None:
        if self.header_deadline is not None:
            self.header_deadline.cancel()
            self.header_deadline = None

    def _upgraded(self) -> bool:
        """Whether the connection was handed to another protocol (a WebSocket upgrade)."""
        return self.transport.get_protocol() is not self

    def _expired(self) -> None:
        self.header_deadline = None
        if self._upgraded():
            return
        if self.transport.is_closing() or not (self.cycle is None or self.cycle.response_complete):
            return
        if self.reading_headers:
            self.transport.write(_raw_408(HEADER_MESSAGE))
        self.transport.close()


class BodyReadTimeoutMiddleware:
    """Answer 408 (and close the connection) when a request body stops arriving."""

    def __init__(self, app: ASGIApp, timeout: float) -> None:
        """Wrap `app`; `timeout` bounds each wait for the next part of a body."""
        self.app = app
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request with a bounded `receive`."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        body_done = False
        response_started = False
        answered = False

        async def bounded_receive() -> Message:
            nonlocal body_done, answered
            if body_done:  # waiting for a disconnect after the body: not a read
                return await receive()
            try:
                async with asyncio.timeout(self.timeout):  # no extra task per read, unlike wait_for
                    message = await receive()
            except TimeoutError:
                body_done = True
                if not response_started:
                    answered = True
                    response = error_response(
                        408, TIMEOUT_CODE, BODY_MESSAGE, headers={"Connection": "close"}
                    )
                    await response(scope, receive, send)
                # To the app the client is gone: it stops reading and answers nothing more.
                return {"type": "http.disconnect"}
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if answered:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        try:
            await self.app(scope, bounded_receive, guarded_send)
        except ClientDisconnect:
            if not answered:  # a real disconnect, not the one we made up
                raise
