"""The API as deployed (`platformctl serve` under uvicorn), over raw sockets: read and keep-alive
timeouts, and Prometheus metrics on their own port (also with several worker processes)."""

from __future__ import annotations

import json
import os
import re
import select
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from platform_core.kernel.settings import Settings
from tests.support.processes import ApiServer

TIMEOUT = 1.0  # seconds: the header, body and keep-alive timeouts of the server under test
MARGIN = 4.0  # seconds a test allows beyond a timeout before calling it missed
HEALTHZ_COUNT = re.compile(r'^http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$', re.M)


def _env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": settings.base_domain,
            "LOG_LEVEL": "WARNING",
            "LOG_FORMAT": "console",
            "REQUEST_HEADER_TIMEOUT_SECONDS": str(TIMEOUT),
            "REQUEST_BODY_TIMEOUT_SECONDS": str(TIMEOUT),
            "KEEP_ALIVE_TIMEOUT_SECONDS": str(int(TIMEOUT)),
        }
    )
    return env


@pytest.fixture(scope="module")
def api(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiServer]:
    """One `platformctl serve` process with one-second read and keep-alive timeouts."""
    with ApiServer(_env(settings), tmp_path_factory.mktemp("serve") / "api.log") as server:
        yield server


def _connect(api: ApiServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", api.port), timeout=TIMEOUT + MARGIN)
    return sock


def _read_until_closed(sock: socket.socket, deadline: float) -> bytes:
    """Everything the server sends until it closes the connection; fail at the deadline."""
    data = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"the server kept the connection open; it sent {data[:200]!r}")
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk


def _read_response(sock: socket.socket, deadline: float) -> bytes:
    """One complete response (headers and a Content-Length body), leaving the connection open."""
    data = b""
    while True:
        head, sep, body = data.partition(b"\r\n\r\n")
        if sep:
            length = re.search(rb"content-length: (\d+)", head.lower())
            if length and len(body) >= int(length.group(1)):
                return data
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no complete response in time: {data[:200]!r}")
        sock.settimeout(remaining)
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection mid-response: {data[:200]!r}"
        data += chunk


def _error_of(response: bytes) -> tuple[int, dict]:
    head, _, body = response.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


class TestReadTimeouts:
    def test_a_body_shorter_than_announced_is_answered_408_and_closed(self, api):
        with _connect(api) as sock:
            start = time.monotonic()
            sock.sendall(
                b"POST /api/v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b'Content-Length: 100\r\n\r\n{"title": '
            )
            response = _read_until_closed(sock, start + TIMEOUT + MARGIN)
        status, error = _error_of(response)
        assert (status, error["code"]) == (408, "request_timeout")
        assert b"connection: close" in response.lower()
        assert time.monotonic() - start >= TIMEOUT * 0.9

    def test_a_body_arriving_in_pieces_in_time_is_served(self, api):
        with _connect(api) as sock:
            body = b'{"title": "slow but steady"}'
            sock.sendall(
                b"POST /api/v1/items HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body[:10]
            )
            # Send the rest once half the timeout passed (waiting on the socket, which stays silent).
            assert select.select([sock], [], [], TIMEOUT / 2) == ([], [], [])
            sock.sendall(body[10:])
            response = _read_until_closed(sock, time.monotonic() + TIMEOUT + MARGIN)
        status, _ = _error_of(response)
        assert status not in (400, 408)  # the request went through to tenant resolution

    def test_headers_sent_slowly_are_cut_off_with_408(self, api):
        with _connect(api) as sock:
            start = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            response = b""
            # One header line every fifth of the timeout, until the server answers or hangs up.
            while time.monotonic() - start < TIMEOUT + MARGIN:
                readable, _, _ = select.select([sock], [], [], TIMEOUT / 5)
                if readable:
                    response = _read_until_closed(sock, start + TIMEOUT + MARGIN)
                    break
                try:
                    sock.sendall(b"X-Slow: 1\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    break
            else:
                raise AssertionError("a client sending its headers slowly was never cut off")
        elapsed = time.monotonic() - start
        status, error = _error_of(response)
        assert (status, error["code"]) == (408, "request_timeout")
        assert TIMEOUT * 0.9 <= elapsed <= TIMEOUT + MARGIN

    def test_a_connection_that_sends_nothing_is_closed(self, api):
        with _connect(api) as sock:
            start = time.monotonic()
            assert _read_until_closed(sock, start + TIMEOUT + MARGIN) == b""
        assert time.monotonic() - start >= TIMEOUT * 0.9

    def test_an_idle_keep_alive_connection_is_closed_after_the_keep_alive_timeout(self, api):
        with _connect(api) as sock:
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            first = _read_response(sock, time.monotonic() + MARGIN)
            assert first.startswith(b"HTTP/1.1 200"), first
            answered = time.monotonic()
            # Closed by the keep-alive timeout of the settings, well before uvicorn's own default of 5 s.
            assert _read_until_closed(sock, answered + TIMEOUT + 2.5) == b""
        assert time.monotonic() - answered >= TIMEOUT * 0.9

    def test_requests_on_one_connection_each_get_an_answer(self, api):
        with httpx.Client(base_url=api.url) as client:
            for _ in range(3):
                assert client.get("/healthz").status_code == 200


class TestMetricsPort:
    def test_metrics_are_served_on_their_own_port_and_not_by_the_api(self, api):
        for host in ("127.0.0.1", "localhost", "10.0.0.7"):
            response = httpx.get(f"{api.url}/metrics", headers={"Host": host})
            assert response.status_code == 404, host
        scraped = httpx.get(api.metrics_url)
        assert scraped.status_code == 200
        assert scraped.headers["content-type"].startswith("text/plain")
        assert HEALTHZ_COUNT.search(scraped.text)
        assert 'route="/metrics"' not in scraped.text

    def test_with_several_workers_every_scrape_counts_every_worker(self, settings, tmp_path: Path):
        with ApiServer(_env(settings), tmp_path / "api.log", "--workers", "2") as api:
            before = _healthz_count(api)
            for _ in range(20):  # a new connection each: the kernel spreads them over the workers
                assert httpx.get(f"{api.url}/healthz", headers={"Connection": "close"}).status_code == 200
            scrapes = [httpx.get(api.metrics_url, headers={"Connection": "close"}).text for _ in range(6)]
        assert {_count(text) - before for text in scrapes} == {20}
        assert not re.search(r"^platform_outbox_pending\{pid=", scrapes[0], re.M)


def _count(text: str) -> float:
    match = HEALTHZ_COUNT.search(text)
    return float(match.group(1)) if match else 0.0


def _healthz_count(api: ApiServer) -> float:
    return _count(httpx.get(api.metrics_url, headers={"Connection": "close"}).text)
