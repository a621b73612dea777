"""Sentry hears about faults, not about expected answers: events go to a real HTTP receiver."""

from __future__ import annotations

import gzip
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
import sentry_sdk

from platform_core.kernel.observability import init_sentry
from tests.conftest import BASE_DOMAIN


class _Envelopes(BaseHTTPRequestHandler):
    received: list[bytes]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        elif self.headers.get("Content-Encoding") == "br":
            raise AssertionError("brotli envelopes: tell the transport to use gzip")
        self.server.received.append(body)  # type: ignore[attr-defined]
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def sentry_events(settings) -> Iterator[list[bytes]]:
    """Sentry started with a DSN naming a local receiver; the envelopes it received."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Envelopes)
    server.received = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    dsn = f"http://publickey@127.0.0.1:{server.server_address[1]}/1"
    init_sentry(settings.model_copy(update={"sentry_dsn": dsn}))
    try:
        yield server.received  # type: ignore[attr-defined]
    finally:
        sentry_sdk.get_client().close()
        # No client at all, so the tests that follow run as without a DSN (the integrations stay off).
        for scope in (
            sentry_sdk.get_global_scope(),
            sentry_sdk.get_isolation_scope(),
            sentry_sdk.get_current_scope(),
        ):
            scope.set_client(None)
        server.shutdown()
        server.server_close()


def _events(envelopes: list[bytes]) -> list[bytes]:
    sentry_sdk.flush(timeout=5)
    return [envelope for envelope in envelopes if b'"type":"event"' in envelope.replace(b" ", b"")]


async def test_a_fault_is_reported_and_an_outage_503_or_a_4xx_is_not(
    app, client_a, sentry_events, monkeypatch
):
    from platform_core.uploads.settings import get_s3_settings
    from platform_core.uploads.storage import get_store

    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/boom", boom, methods=["POST"])
    monkeypatch.setenv("S3_BUCKET", "")
    get_s3_settings.cache_clear()
    get_store.cache_clear()

    unavailable = await client_a.post("/api/v1/uploads", json={"filename": "a.txt", "size_bytes": 1})
    assert unavailable.status_code == 503
    assert (await client_a.get("/api/v1/items/not-an-id")).status_code == 422
    assert _events(sentry_events) == []

    # The server answers 500 and re-raises to its host (as uvicorn logs it): keep the client going.
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_DOMAIN}") as client:
        assert (await client.post("/boom", json={"note": "body-marker"})).status_code == 500
    events = _events(sentry_events)
    assert len(events) == 1
    assert b"a bug" in events[0]
    # Request bodies are never read for Sentry: they hold passwords and tokens, and reading one would
    # consume a streamed body (a direct upload) before its route reads it.
    assert b"body-marker" not in events[0]
