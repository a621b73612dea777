"""Real SMTP servers (aiosmtpd, in a thread) on free ports, a test CA, and settings pointing at them."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import trustme

from tests.workers.email.smtp_servers import FROM, Recorder
from workers.email.settings import EmailSettings
from workers.email.sink import EphemeralPortController


@pytest.fixture
def smtp_server() -> Iterator[Callable[..., EphemeralPortController]]:
    """Start aiosmtpd servers on free ports (keyword arguments go to aiosmtpd's SMTP); stop them after."""
    started: list[EphemeralPortController] = []

    def start(handler: Any = None, **smtp_kwargs: Any) -> EphemeralPortController:
        controller = EphemeralPortController(
            handler or Recorder(), hostname="127.0.0.1", port=0, server_hostname="smtp.test", **smtp_kwargs
        )
        controller.start()
        started.append(controller)
        return controller

    yield start
    for controller in started:
        controller.stop()


@pytest.fixture
def make_settings() -> Callable[..., EmailSettings]:
    """Settings for a test server, untouched by the environment and .env."""

    def make(port: int, **overrides: Any) -> EmailSettings:
        values: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": port,
            "username": "",
            "password": "",
            "tls": "none",
            "from_address": FROM,
            "timeout": 2.0,
            "max_retries": 3,
            "retry_backoff_seconds": 30.0,
            "retry_backoff_max_seconds": 3600.0,
        }
        values.update(overrides)
        return EmailSettings(_env_file=None, **values)

    return make


@pytest.fixture
def closed_port() -> int:
    """A port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """A throwaway certificate authority."""
    return trustme.CA()


@pytest.fixture(scope="session")
def server_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A server context with a certificate for 127.0.0.1 and localhost, issued by `ca`."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def client_tls(ca: trustme.CA) -> ssl.SSLContext:
    """A verifying client context that trusts `ca` only."""
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context
