"""Every local development service listens on 127.0.0.1 only: none is reachable from the network."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import urlsplit

import psutil

from platform_core.devstack import mail_viewer
from platform_core.devstack.s3 import local_s3
from platform_core.devstack.stripe_servers import localstripe, standin
from workers.email.sink import MailSink


def _listening_addresses(port: int) -> set[str]:
    """The local addresses on which some process listens on this TCP port."""
    return {
        conn.laddr.ip
        for conn in psutil.net_connections(kind="inet")
        if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port
    }


def test_every_dev_service_listens_on_loopback_only(tmp_path: Path):
    (tmp_path / "stripe").mkdir()
    ports: dict[str, int | None] = {}
    if os.environ.get("PLATFORM_TEST_STACK_STARTED"):  # the servers tests/conftest.py started, not
        ports = {  # ones configured through DATABASE_URL/REDIS_URL, which this project does not run
            "postgres": urlsplit(os.environ["DATABASE_URL"]).port,
            "redis": urlsplit(os.environ["REDIS_URL"]).port,
        }
    with (
        localstripe(tmp_path / "stripe") as upstream,
        standin(tmp_path / "stripe", upstream) as stripe_api,
        local_s3(tmp_path / "s3", bucket="loopback-probe") as s3,
        MailSink(tmp_path / "mail") as sink,
        mail_viewer.running(tmp_path / "mail", log_path=tmp_path / "mail-viewer.log") as viewer,
    ):
        ports |= {
            "localstripe": urlsplit(upstream).port,
            "stripe stand-in": urlsplit(stripe_api).port,
            "s3": urlsplit(s3.endpoint_url).port,
            "smtp sink": sink.port,
            "mail viewer": urlsplit(viewer).port,
        }
        listening = {name: _listening_addresses(port) for name, port in ports.items()}

    assert listening == {name: {"127.0.0.1"} for name in ports}
