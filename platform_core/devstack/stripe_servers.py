"""Stripe-API-compatible servers for tests and `make dev`: localstripe, and the stand-in in front of it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from platform_core.devstack._common import LOCALHOST, pick_port, stop_child

# `make dev`: localstripe's 8420 and the stand-in's 8421 behind a 1, so their URLs are stable.
DEFAULT_DEV_PORT = 18420
DEFAULT_DEV_STANDIN_PORT = 18421


def _wait(url: str, process: subprocess.Popen[bytes], name: str, probe: str) -> None:
    deadline = time.monotonic() + 20
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}")
        try:
            httpx.request("DELETE" if probe.startswith("/_config") else "GET", f"{url}{probe}", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not start") from None
            time.sleep(0.1)


@contextlib.contextmanager
def _running(command: list[str], workdir: Path, name: str) -> Iterator[subprocess.Popen[bytes]]:
    log = (workdir / f"{name}.log").open("wb")
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        yield process
    finally:
        stop_child(process)
        log.close()


@contextlib.contextmanager
def standin(workdir: Path, upstream: str, *, preferred_port: int | None = None) -> Iterator[str]:
    """Run the Stripe stand-in in front of `upstream` until the block ends; yield its base URL."""
    port = pick_port(None, preferred_port)
    command = [
        sys.executable,
        "-m",
        "platform_core.devstack.stripe_standin",
        "--port",
        str(port),
        "--upstream",
        upstream,
    ]
    url = f"http://{LOCALHOST}:{port}"
    with _running(command, workdir, "stripe-standin") as process:
        _wait(url, process, "the Stripe stand-in", "/v1/prices")
        yield url


@contextlib.contextmanager
def localstripe(workdir: Path, *, preferred_port: int | None = None) -> Iterator[str]:
    """Run localstripe (with the additions of localstripe_plus) on 127.0.0.1 (preferred_port if free,
    else a free port) until the block ends; yield its base URL."""
    port = pick_port(None, preferred_port)
    command = [sys.executable, "-m", "platform_core.devstack.localstripe_plus", "--port", str(port)]
    url = f"http://{LOCALHOST}:{port}"
    with _running([*command, "--from-scratch"], workdir, "localstripe") as process:
        _wait(url, process, "localstripe", "/_config/data")
        yield url


@contextlib.contextmanager
def local_stripe(
    workdir: Path, *, preferred_port: int | None = None, preferred_standin_port: int | None = None
) -> Iterator[str]:
    """localstripe behind the stand-in, until the block ends; yield the API base for STRIPE_API_BASE."""
    workdir.mkdir(parents=True, exist_ok=True)
    with (
        localstripe(workdir, preferred_port=preferred_port) as upstream,
        standin(workdir, upstream, preferred_port=preferred_standin_port) as url,
    ):
        yield url


def register_webhook(api_base: str, url: str, secret: str) -> None:
    """Ask localstripe (through the stand-in) to deliver its events to `url`, signed with `secret`."""
    response = httpx.post(
        f"{api_base}/_config/webhooks/platform", data={"url": url, "secret": secret}, timeout=10
    )
    response.raise_for_status()
