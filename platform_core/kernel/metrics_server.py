"""Prometheus metrics on their own port (METRICS_HOST:METRICS_PORT), never on the public app.

Every API process serves them from its lifespan, beside the API. With `platformctl serve --workers N`
the worker processes share the port (SO_REUSEPORT) and record into prometheus_client's multiprocess
directory (PROMETHEUS_MULTIPROC_DIR, which `serve` sets up): whichever worker a scrape reaches answers
for all of them, so one scrape per pod sees the whole pod.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from typing import Any

import uvicorn
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from platform_core.kernel.settings import Settings

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
REFRESH_EVERY = 10.0  # seconds: scrapes in between report the last values
REFRESH_TIMEOUT = 2.0
START_TIMEOUT = 10.0
logger = logging.getLogger("platform.metrics")
# Sets gauges from the database on scrape (registered by the app factory on app.state.gauge_refreshers).
GaugeRefresher = Callable[[AsyncSession], Awaitable[None]]


def multiprocess() -> bool:
    """Whether this process records into a directory shared by several worker processes."""
    return bool(os.environ.get(MULTIPROCESS_ENV))


def metrics_registry() -> CollectorRegistry:
    """The registry a scrape reads: every worker's metrics in multiprocess mode, else this process's."""
    if not multiprocess():
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # prometheus_client leaves it unannotated
    return registry


async def refresh_gauges(state: Any) -> None:
    """Run the app's gauge refreshers (backlogs read from the database), at most every REFRESH_EVERY s.

    A failure is logged and the scrape goes on with the last values: HTTP metrics matter most when the
    database is in trouble.
    """
    refreshers: Sequence[GaugeRefresher] = getattr(state, "gauge_refreshers", ())
    last = getattr(state, "gauges_refreshed_at", None)
    if not refreshers or (last is not None and time.monotonic() - last < REFRESH_EVERY):
        return
    state.gauges_refreshed_at = time.monotonic()
    try:
        async with state.db.session(None) as session:
            for refresh in refreshers:
                await asyncio.wait_for(refresh(session), REFRESH_TIMEOUT)
    except Exception:
        logger.warning("could not refresh the backlog gauges", exc_info=True)


def metrics_app(state: Any) -> Starlette:
    """The ASGI app of the metrics port: GET /metrics, with the gauges of the API app's `state`."""
    registry = metrics_registry()

    async def metrics(request: Request) -> Response:
        """Expose the Prometheus metrics."""
        await refresh_gauges(state)
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, shared with this pod's other workers in multiprocess mode."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if multiprocess():
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise RuntimeError(
            f"Cannot serve metrics on {host}:{port} ({exc.strerror}). Set METRICS_PORT to a free port "
            "(0 disables metrics); run several worker processes with `platformctl serve --workers N`."
        ) from exc
    sock.listen(128)
    return sock


class _SideServer(uvicorn.Server):
    """A uvicorn server beside the API's in the same process: the API's server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


@contextlib.asynccontextmanager
async def serve_metrics(settings: Settings, state: Any) -> AsyncIterator[None]:
    """Serve GET /metrics on METRICS_HOST:METRICS_PORT while the block runs (not at all when it is 0)."""
    if not settings.metrics_port:
        yield
        return
    sock = bind(settings.metrics_host, settings.metrics_port)
    config = uvicorn.Config(
        metrics_app(state),
        lifespan="off",
        log_config=None,
        access_log=False,
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
    )
    server = _SideServer(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if task.done() or time.monotonic() > deadline:
                raise RuntimeError(f"The metrics server did not start on port {settings.metrics_port}.")
            await asyncio.sleep(0.01)
        yield
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()
