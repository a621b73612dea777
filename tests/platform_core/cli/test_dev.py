"""`platformctl dev` end to end: starts everything, serves the demo tenant, stops everything on Ctrl-C."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import psutil

from platform_core.cli import dev_env
from platform_core.cli.dev import (
    DEMO_OPERATOR_EMAIL,
    DEMO_OPERATOR_PASSWORD,
    DEMO_OWNER_EMAIL,
    DEMO_OWNER_PASSWORD,
    DEMO_SLUG,
)
from platform_core.kernel.settings import PROJECT_ROOT
from tests.platform_core.cli.test_output import platformctl


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(root, port: int) -> subprocess.Popen[str]:
    unset = ("DATABASE_URL", "REDIS_URL", "ENV", "BASE_DOMAIN", "DEV_ROOT")
    env = {k: v for k, v in os.environ.items() if k not in unset and not k.startswith(("S3_", "SMTP_"))}
    return subprocess.Popen(
        [sys.executable, "-m", "platform_core.cli.main", "dev", "--port", str(port), "--root", str(root)],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _wait_ready(process: subprocess.Popen[str], timeout: float = 300) -> list[str]:
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        lines.append(line)
        if "operator console:" in line:  # the last line of the ready message
            return lines
    raise AssertionError("dev never became ready:\n" + "".join(lines))


def _stop(process: subprocess.Popen[str]) -> set[int]:
    """Ctrl-C the whole process group, as a terminal does; return every pid that was part of it."""
    family = {process.pid} | {c.pid for c in psutil.Process(process.pid).children(recursive=True)}
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=60)
    return family


def _alive(pids: set[int]) -> set[int]:
    alive = set()
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.add(pid)
        except psutil.NoSuchProcess:
            pass
    return alive


def _sign_in(port: int, host: dict[str, str]) -> dict[str, str]:
    """Sign in as the demo owner printed by `platformctl dev`; return headers carrying the token."""
    response = httpx.post(
        f"http://127.0.0.1:{port}/api/v1/auth/token",
        data={"username": DEMO_OWNER_EMAIL, "password": DEMO_OWNER_PASSWORD},
        headers=host,
    )
    assert response.status_code == 200, response.text
    return {**host, "authorization": f"Bearer {response.json()['access_token']}"}


def _subscribe_end_to_end(port: int, demo: dict[str, str]) -> None:
    """Checkout, pay on the stand-in's page, and wait for the signed webhooks, the relay and the worker
    to give the demo tenant the plan: every piece is a real process here."""
    api = f"http://127.0.0.1:{port}/api/v1/billing"
    started = httpx.post(f"{api}/checkout", json={"plan": "pro", "interval": "monthly"}, headers=demo)
    assert started.status_code == 200, started.text
    paid = httpx.post(f"{started.json()['url']}/complete", headers={"Authorization": "Bearer sk_test_dev"})
    assert paid.status_code == 200, paid.text
    deadline = time.monotonic() + 60
    billing: dict = {}
    while time.monotonic() < deadline:
        billing = httpx.get(api, headers=demo).json()
        if billing.get("status") == "trialing":  # the Pro plan starts with its trial
            break
        time.sleep(0.5)
    assert (billing.get("plan", {}).get("key"), billing.get("status")) == ("pro", "trialing"), billing


def _upload_end_to_end(port: int, demo: dict[str, str]) -> None:
    """Ask for an upload form, send the file to the local S3 server with it, complete, download."""
    api = f"http://127.0.0.1:{port}/api/v1/uploads"
    created = httpx.post(
        api, json={"filename": "hello.txt", "content_type": "text/plain", "size_bytes": 5}, headers=demo
    )
    assert created.status_code == 201, created.text
    form = created.json()["upload"]
    sent = httpx.post(form["url"], data=form["fields"], files={"file": ("hello.txt", b"hello", "text/plain")})
    assert sent.status_code == 204, sent.text
    completed = httpx.post(f"{api}/{created.json()['id']}/complete", headers=demo)
    assert completed.status_code == 200, completed.text
    assert httpx.get(completed.json()["download_url"]).content == b"hello"


def test_dev_serves_demo_and_ctrl_c_stops_everything_and_data_survives(tmp_path):
    root = tmp_path / "devroot"
    port = _free_port()
    host = {"host": f"demo.localhost:{port}"}

    first = _start(root, port)
    try:
        output = "".join(_wait_ready(first))
        assert f"http://demo.localhost:{port}/docs" in output
        assert f"console: http://demo.localhost:{port}/" in output
        assert f"operator console: http://admin.localhost:{port}/ as {DEMO_OPERATOR_EMAIL}" in output
        sign_in_page = httpx.get(f"http://127.0.0.1:{port}/", headers=host, follow_redirects=True)
        assert "<h1>Sign in</h1>" in sign_in_page.text  # the console answers a browser on the demo host
        operator = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/operator/auth/token",
            data={"username": DEMO_OPERATOR_EMAIL, "password": DEMO_OPERATOR_PASSWORD},
            headers={"host": f"admin.localhost:{port}"},
        )
        assert operator.status_code == 200, operator.text  # the printed operator account signs in
        urls = dev_env.read(root / "env")
        assert urls["DATABASE_URL"].endswith("/platform")  # the database the platform uses
        assert f"started local postgres: {urls['DATABASE_URL']}" in output
        # A second terminal: no variable exported, platformctl finds the services in .dev/env.
        second_terminal = platformctl("tenants", "list", "--json", cwd=tmp_path, DEV_ROOT=str(root))
        assert second_terminal.returncode == 0, second_terminal.stderr
        assert DEMO_SLUG in {t["slug"] for t in json.loads(second_terminal.stdout)}
        demo = _sign_in(port, host)
        created = httpx.post(f"http://127.0.0.1:{port}/api/v1/items", json={"title": "kept"}, headers=demo)
        assert created.status_code == 201
        assert httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200
        assert "started local Stripe" in output
        assert "started local S3" in output
        assert f"started the mail viewer: {urls['MAIL_VIEWER_URL']}" in output
        assert "<h1>Mail (" in httpx.get(urls["MAIL_VIEWER_URL"]).text
        _upload_end_to_end(port, demo)
        _subscribe_end_to_end(port, demo)
        servers = {c.pid for c in psutil.Process(first.pid).children(recursive=True)}
    finally:
        family = _stop(first)
    assert servers  # postgres, redis and the API were children of dev
    deadline = time.monotonic() + 10
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(family) == set()

    second = _start(root, port)
    try:
        _wait_ready(second)
        again = dev_env.read(root / "env")
        stable = (
            "DATABASE_URL",
            "REDIS_URL",
            "SMTP_PORT",
            "STRIPE_API_BASE",
            "S3_ENDPOINT_URL",
            "MAIL_VIEWER_URL",
        )
        assert {k: again[k] for k in stable} == {k: urls[k] for k in stable}  # same ports as before
        demo = _sign_in(port, host)
        items = httpx.get(f"http://127.0.0.1:{port}/api/v1/items", headers=demo).json()
        assert [i["title"] for i in items["items"]] == ["kept"]
    finally:
        family = _stop(second)
    deadline = time.monotonic() + 10
    while _alive(family) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _alive(family) == set()
