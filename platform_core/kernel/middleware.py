"""Pure ASGI middleware: request id, access log and request metrics (cheaper than BaseHTTPMiddleware)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_core.kernel.context import request_id_var, tenant_id_var, tenant_slug_var
from platform_core.kernel.error_handlers import error_response

logger = logging.getLogger("platform.access")
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class RequestContextMiddleware:
    """Accept or generate X-Request-ID, echo it, and log and measure each request."""

    def __init__(self, app: ASGIApp, header: str = "X-Request-ID", access_log: bool = True) -> None:
        self.app = app
        self.header = header.lower().encode("latin-1")
        self.header_name = header
        self.access_log = access_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the request inside its context."""
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming_id, hosts = self._read_headers(scope)
        request_id = incoming_id or uuid.uuid4().hex
        token = request_id_var.set(request_id)
        tenant_token = tenant_slug_var.set(None)
        tenant_id_token = tenant_id_var.set(None)
        status = 500
        start = time.perf_counter()
        raw_id = request_id.encode("latin-1")

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (self.header, raw_id)]
            await send(message)

        try:
            if hosts != 1 and (hosts or scope.get("http_version") != "1.0"):
                await _ambiguous_host(hosts)(scope, receive, send_with_id)
            else:
                await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - start
            route = _route_template(scope)
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            if self.access_log:
                logger.info(
                    "%s %s %s %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    elapsed * 1000,
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(token)
            tenant_slug_var.reset(tenant_token)
            tenant_id_var.reset(tenant_id_token)

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A WebSocket: the same Host rule (refused at the handshake), request id and one log line."""
        incoming_id, hosts = self._read_headers(scope)
        if hosts != 1:
            await send({"type": "websocket.close", "code": 1008, "reason": "one Host header is required"})
            return
        token = request_id_var.set(incoming_id or uuid.uuid4().hex)
        tenant_token, tenant_id_token = tenant_slug_var.set(None), tenant_id_var.set(None)
        close_code: int | None = None
        start = time.perf_counter()

        async def watch_close(message: Message) -> None:
            nonlocal close_code
            if message["type"] == "websocket.close":
                close_code = message.get("code", 1000)
            await send(message)

        try:
            await self.app(scope, receive, watch_close)
        finally:
            if self.access_log:
                elapsed = time.perf_counter() - start
                logger.info(
                    "WEBSOCKET %s closed %s after %.1fs",
                    scope["path"],
                    close_code,
                    elapsed,
                    extra={
                        "path": scope["path"],
                        "close_code": close_code,
                        "duration_ms": round(elapsed * 1000),
                    },
                )
            request_id_var.reset(token)
            tenant_slug_var.reset(tenant_token)
            tenant_id_var.reset(tenant_id_token)

    def _read_headers(self, scope: Scope) -> tuple[str | None, int]:
        """The valid incoming request id (or None), and how many Host header lines the request has."""
        request_id: str | None = None
        hosts = 0
        for name, value in scope.get("headers", ()):
            if name == b"host":
                hosts += 1
            elif name == self.header and request_id is None:
                candidate = value.decode("latin-1")
                request_id = candidate if _VALID_REQUEST_ID.match(candidate) else ""
        return request_id or None, hosts


def _ambiguous_host(hosts: int) -> ASGIApp:
    """The 400 RFC 9112 (section 3.2) requires for a request with several Host lines, or none in HTTP/1.1.

    Servers and proxies may pick different lines, so serving either could route the request to a tenant
    other than the one a proxy checked.
    """
    message = "The request has several Host headers." if hosts else "The request has no Host header."
    return error_response(400, "invalid_host", message, {"host_headers": hosts})


def _route_template(scope: Scope) -> str:
    """The matched route's path template, so metrics labels stay bounded."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
