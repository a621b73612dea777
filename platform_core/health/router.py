"""Liveness, readiness and metrics: host-agnostic, so probes can hit a pod by IP."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.auth.dependencies import PUBLIC
from platform_core.error_handlers import error_response
from platform_core.errors import NotFound, ServiceUnavailable, raises

router = APIRouter(tags=["health"], dependencies=[PUBLIC])
CHECK_TIMEOUT = 2.0
REFRESH_EVERY = 10.0  # seconds: scrapes in between report the last values
logger = logging.getLogger("platform.health")
# Sets gauges from the database on scrape (registered by the app factory on app.state.gauge_refreshers).
GaugeRefresher = Callable[[AsyncSession], Awaitable[None]]


class NotReady(ServiceUnavailable):
    """The database or Redis did not answer the readiness check."""

    code = "not_ready"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is up."""
    return {"status": "ok"}


async def _check_database(request: Request) -> None:
    async with request.app.state.db.async_engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


async def _check_redis(request: Request) -> None:
    await request.app.state.redis.ping()


@router.get("/readyz", response_model=None)
@raises(NotReady)
async def readyz(request: Request) -> dict[str, Any] | JSONResponse:
    """Report whether the database and Redis answer; 503 naming the failing part otherwise."""
    checks = {"database": _check_database, "redis": _check_redis}
    failing: dict[str, str] = {}

    async def run(name: str) -> None:
        try:
            await asyncio.wait_for(checks[name](request), CHECK_TIMEOUT)
        except Exception as exc:
            failing[name] = type(exc).__name__ if not str(exc) else str(exc)[:200]

    await asyncio.gather(*(run(name) for name in checks))
    if failing:
        names = ", ".join(sorted(failing))
        return error_response(503, NotReady.code, f"Not ready: {names} unreachable.", {"failing": failing})
    return {"status": "ok", "checks": {name: "ok" for name in checks}}


def _is_internal_host(host: str | None) -> bool:
    """An IP address or localhost: how Prometheus reaches a pod, never how a browser reaches a tenant."""
    name = (host or "").strip().lower()
    if name.startswith("["):
        return True
    name = name.rsplit(":", 1)[0] if name.count(":") == 1 else name
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


async def _refresh_gauges(request: Request) -> None:
    """Run the app's gauge refreshers (backlogs read from the database), at most every REFRESH_EVERY s.

    A failure is logged and the scrape goes on with the last values: HTTP metrics matter most when the
    database is in trouble.
    """
    state = request.app.state
    refreshers: Sequence[GaugeRefresher] = getattr(state, "gauge_refreshers", ())
    last = getattr(state, "gauges_refreshed_at", None)
    if not refreshers or (last is not None and time.monotonic() - last < REFRESH_EVERY):
        return
    state.gauges_refreshed_at = time.monotonic()
    try:
        async with state.db.session(None) as session:
            for refresh in refreshers:
                await asyncio.wait_for(refresh(session), CHECK_TIMEOUT)
    except Exception:
        logger.warning("could not refresh the backlog gauges", exc_info=True)


@router.get(
    "/metrics",
    response_model=None,
    response_class=PlainTextResponse,
)
@raises(NotFound)
async def metrics(request: Request) -> Response:
    """Expose Prometheus metrics to scrapers that address the pod directly (404 through the ingress)."""
    if not _is_internal_host(request.headers.get("host")):
        return error_response(404, "not_found", "No route matches this path.")
    await _refresh_gauges(request)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
