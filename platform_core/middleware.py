"""Pure ASGI middleware: request id, access log and request metrics (cheaper than BaseHTTPMiddleware)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from prometheus_client import Counter, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from platform_core.context import request_id_var, tenant_id_var, tenant_slug_var

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
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = self._incoming_id(scope) or uuid.uuid4().hex
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

    def _incoming_id(self, scope: Scope) -> str | None:
        for name, value in scope.get("headers", ()):
            if name == self.header:
                candidate = value.decode("latin-1")
                return candidate if _VALID_REQUEST_ID.match(candidate) else None
        return None


def _route_template(scope: dict[str, Any]) -> str:
    """The matched route's path template, so metrics labels stay bounded."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"
