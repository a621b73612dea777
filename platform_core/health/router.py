"""Liveness and readiness: host-agnostic, so probes can hit a pod by IP (metrics: metrics_server)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from platform_core.access.dependencies import PUBLIC
from platform_core.health import repository as health_repository
from platform_core.kernel.error_handlers import error_response
from platform_core.kernel.errors import ServiceUnavailable, raises

router = APIRouter(tags=["health"], dependencies=[PUBLIC])
CHECK_TIMEOUT = 2.0


class NotReady(ServiceUnavailable):
    """The database or Redis did not answer the readiness check."""

    code = "not_ready"


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Report that the process is up."""
    return {"status": "ok"}


async def _check_database(request: Request) -> None:
    async with request.app.state.db.async_engine.connect() as conn:
        await health_repository.ping(conn)


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
