"""A local S3-compatible server for the tests and `make dev`: moto's server (`moto[server]`, dev extra).

Started on a loopback port (the preferred one if free, else any) with its bucket created; it keeps
objects in memory, so files stored in development do not outlive the server (their rows in the
database do). Like S3, and unlike moto's default, it answers a browser's cross-origin requests only as
the bucket's CORS rule allows: the rule for browser uploads (`ObjectStore.allow_browser_uploads`) is
set for the tenant console's local origins.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import boto3
import httpx

from platform_core.devstack._common import LOCALHOST, LocalServiceError, log_tail, pick_port, stop_child
from platform_core.uploads.storage import ObjectStore

DEFAULT_BUCKET = "platform-dev"
DEFAULT_DEV_PORT = 50009  # `make dev`: moto's 5000 with a 9, like PostgreSQL's 54329 and Redis' 63799
REGION = "us-east-1"
# moto accepts any credentials; these only have to be present for boto3 to sign requests.
ACCESS_KEY_ID = "local"
SECRET_ACCESS_KEY = "local-secret"  # noqa: S105 - not a secret: the local server checks nothing
START_TIMEOUT = 30.0
# The tenant console's origins in development and tests: any tenant of `localhost` on any port (moto
# reads `*` as "anything"; S3 itself allows one `*` per origin, see `browser_upload_origins`).
LOCAL_CONSOLE_ORIGINS = ("http://*.localhost:*",)


@dataclass(frozen=True, slots=True)
class LocalS3:
    """A running local S3 server and its bucket."""

    endpoint_url: str
    bucket: str
    region: str = REGION

    def environ(self) -> dict[str, str]:
        """The environment that points the platform (and boto3's credentials) at this server."""
        return {
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_BUCKET": self.bucket,
            "S3_REGION": self.region,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        }


def _wait_ready(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if process.poll() is not None:
            raise LocalServiceError(f"moto_server exited with {process.returncode}:\n{log_tail(log)}")
        try:
            httpx.get(f"{url}/", timeout=1)
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise LocalServiceError(f"moto_server did not answer within {START_TIMEOUT:.0f}s") from None
            time.sleep(0.1)


def create_bucket(
    endpoint_url: str, bucket: str, browser_origins: Sequence[str] = LOCAL_CONSOLE_ORIGINS
) -> None:
    """Create `bucket` on a local server (with the local credentials), open to browser uploads from
    `browser_origins` (none: no CORS rule)."""
    session = boto3.session.Session(aws_access_key_id=ACCESS_KEY_ID, aws_secret_access_key=SECRET_ACCESS_KEY)
    client = session.client("s3", endpoint_url=endpoint_url, region_name=REGION)
    client.create_bucket(Bucket=bucket)
    if browser_origins:
        ObjectStore(client, bucket).allow_browser_uploads(browser_origins)


@contextlib.contextmanager
def local_s3(
    workdir: Path,
    *,
    bucket: str = DEFAULT_BUCKET,
    preferred_port: int | None = None,
    browser_origins: Sequence[str] = LOCAL_CONSOLE_ORIGINS,
) -> Iterator[LocalS3]:
    """Run moto_server (on preferred_port if free) with `bucket` created and open to browser uploads
    from `browser_origins`, until the block ends."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = pick_port(None, preferred_port)
    url = f"http://{LOCALHOST}:{port}"
    log_path = workdir / "moto.log"
    with log_path.open("wb") as log:
        try:
            process = subprocess.Popen(
                # moto_server, with form uploads answered with the bucket's CORS headers as S3 does
                [sys.executable, "-m", "platform_core.devstack.moto_s3", "-H", LOCALHOST, "-p", str(port)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=workdir,
                # Cross-origin requests as the bucket's CORS rule says, not moto's allow-all.
                env={**os.environ, "MOTO_DISABLE_GLOBAL_CORS": "true"},
            )
        except OSError as exc:
            raise LocalServiceError(f"could not run moto's server ({exc}): pip install -e '.[dev]'") from exc
        try:
            _wait_ready(url, process, log_path)
            create_bucket(url, bucket, browser_origins)
            yield LocalS3(endpoint_url=url, bucket=bucket)
        finally:
            stop_child(process)
