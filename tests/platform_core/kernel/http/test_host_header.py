"""Ambiguous requests against a real uvicorn server, spoken over a raw socket with each HTTP/1.1 parser."""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from platform_core.kernel.settings import PROJECT_ROOT, Settings
from tests.support.processes import ApiServer

# None: `platformctl serve` as deployed (httptools with the header deadline); h11: plain uvicorn with h11.
PARSERS = (None, "h11")


@pytest.fixture(scope="module", params=PARSERS, ids=["serve", "h11"])
def server(request: pytest.FixtureRequest, settings: Settings, tmp_path_factory) -> Iterator[ApiServer]:
    """The API under uvicorn with one HTTP parser, on this worker's database (localhost as base domain)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "STRIPE_", "S3_"))}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": "localhost",
            "LOG_FORMAT": "console",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    log: Path = tmp_path_factory.mktemp(f"api-{request.param or 'serve'}") / "api.log"
    with ApiServer(env, log, http=request.param) as api:
        yield api


def exchange(server: ApiServer, raw: bytes) -> tuple[int | None, bytes]:
    """Send raw bytes, read until the server closes or answers; the status (None: closed unanswered)."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
        conn.sendall(raw)
        conn.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    if not data:
        return None, b""
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


def test_one_host_is_served(server):
    status, _ = exchange(server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
    assert status == 200


@pytest.mark.parametrize(
    "hosts",
    [
        b"Host: alpha.localhost\r\nHost: beta.localhost\r\n",
        b"Host: localhost\r\nHost: localhost\r\n",
        b"",
    ],
    ids=["two-tenants", "same-twice", "none"],
)
def test_ambiguous_or_missing_host_is_400(server, hosts):
    raw = b"GET /healthz HTTP/1.1\r\n" + hosts + b"Connection: close\r\n\r\n"
    status, body = exchange(server, raw)
    assert status == 400, body
    if server.http is None:  # httptools passes every line on: the platform refuses it
        assert json.loads(body)["error"]["code"] == "invalid_host"
    else:  # h11 refuses it itself, before the app is called
        assert body == b"Invalid HTTP request received."


def test_http_1_0_without_host_is_served(server):
    status, _ = exchange(server, b"GET /healthz HTTP/1.0\r\n\r\n")
    assert status == 200


@pytest.mark.parametrize(
    "lengths",
    [b"Content-Length: 2\r\nContent-Length: 5\r\n", b"Content-Length: 2, 5\r\n"],
    ids=["lines", "list"],
)
def test_conflicting_content_lengths_never_reach_the_app(server, lengths):
    raw = (
        b"POST /api/v1/auth/token HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        + lengths
        + b"Connection: close\r\n\r\n{}abc"
    )
    status, _ = exchange(server, raw)
    assert status in (None, 400)  # refused by the parser itself: nothing is routed
