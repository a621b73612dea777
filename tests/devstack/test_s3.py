"""The local S3 server of the tests and `make dev`: starts with its bucket, serves boto3, stops."""

from __future__ import annotations

import httpx
import psutil
import pytest

from platform_core.devstack.s3 import local_s3
from platform_core.uploads.settings import S3Settings
from platform_core.uploads.storage import make_store


def test_local_s3_serves_its_bucket_and_stops(tmp_path, monkeypatch):
    with local_s3(tmp_path / "s3", bucket="devstack-probe") as server:
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        store = make_store(S3Settings(endpoint_url=server.endpoint_url, bucket=server.bucket))
        store.client.put_object(Bucket=store.bucket, Key="k/hello.txt", Body=b"hello")
        assert store.size_of("k/hello.txt") == 5
        assert store.size_of("k/missing.txt") is None
        port = server.endpoint_url.rsplit(":", 1)[1]
        [moto] = [c for c in psutil.Process().children() if c.cmdline()[-2:] == ["-p", port]]
    with pytest.raises(httpx.TransportError):
        httpx.get(server.endpoint_url, timeout=1)
    assert not moto.is_running() or moto.status() == psutil.STATUS_ZOMBIE
