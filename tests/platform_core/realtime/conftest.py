"""Realtime tests: two API processes as deployed, real WebSocket clients, a real worker and relay."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import ApiServer, worker_environment
from tests.workers.conftest import celery, celery_settings, relay, worker, worker_env  # noqa: F401

# Small limits, so that the tests reach them quickly.
REALTIME_ENV = {
    "REALTIME_SEND_QUEUE_SIZE": "16",
    "REALTIME_PING_INTERVAL_SECONDS": "1",
    "REALTIME_PING_TIMEOUT_SECONDS": "1",
    "REALTIME_MAX_MESSAGES_PER_SECOND_PER_TENANT": "50",
    "REALTIME_MAX_CONNECTIONS_PER_TENANT": "40",
    "REALTIME_MAX_MESSAGE_BYTES": "4096",
    "REALTIME_REVALIDATE_SECONDS": "0.5",
    "LOG_LEVEL": "INFO",
    # Far shorter than a WebSocket lives: the HTTP header deadline must not apply to an upgraded one.
    "REQUEST_HEADER_TIMEOUT_SECONDS": "1",
}


def api_env(settings) -> dict[str, str]:
    """The environment of an API process on this test worker's database and Redis."""
    return {**worker_environment(settings), **REALTIME_ENV}


@pytest.fixture(scope="module")
def apis(settings, tmp_path_factory) -> Iterator[tuple[ApiServer, ApiServer]]:
    """Two API processes (as behind a load balancer)."""
    logs = tmp_path_factory.mktemp("realtime")
    with (
        ApiServer(api_env(settings), logs / "api1.log") as one,
        ApiServer(api_env(settings), logs / "api2.log") as two,
    ):
        yield one, two
