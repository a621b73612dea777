"""The bucket's CORS rule for browser uploads: what it allows, how its origins are made from the
settings, and that the local S3 server answers cross-origin requests only as the rule says (like S3)."""

from __future__ import annotations

import httpx
import pytest

from platform_core.devstack.s3 import local_s3
from platform_core.uploads.settings import S3Settings
from platform_core.uploads.storage import browser_upload_origins, browser_upload_rule, make_store


def test_the_origins_are_every_tenant_subdomain_and_the_extra_ones():
    assert browser_upload_origins("https://{slug}.{base_domain}", "example.com") == ["https://*.example.com"]
    assert browser_upload_origins(
        "http://{slug}.{base_domain}:8000/", "localhost", "https://files.acme.com/, ,https://acme.io"
    ) == ["http://*.localhost:8000", "https://files.acme.com", "https://acme.io"]


def test_the_rule_allows_the_upload_methods_only():
    rule = browser_upload_rule(["https://*.example.com"])
    assert rule["AllowedMethods"] == ["POST", "PUT", "GET", "HEAD"]
    assert rule["AllowedOrigins"] == ["https://*.example.com"]
    assert rule["AllowedHeaders"] == ["*"]
    with pytest.raises(ValueError, match="origin"):
        browser_upload_rule([])


def _preflight(url: str, origin: str) -> httpx.Response:
    return httpx.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type",
        },
        timeout=5,
    )


def test_the_local_server_answers_browsers_as_the_buckets_rule_says(tmp_path, monkeypatch):
    with local_s3(
        tmp_path / "s3", bucket="cors-probe", browser_origins=["http://*.localhost:8123"]
    ) as server:
        for name, value in server.environ().items():
            monkeypatch.setenv(name, value)
        store = make_store(S3Settings(endpoint_url=server.endpoint_url, bucket=server.bucket))
        assert [r["AllowedOrigins"] for r in store.cors_rules()] == [["http://*.localhost:8123"]]
        bucket_url = f"{server.endpoint_url}/{server.bucket}"
        allowed = _preflight(bucket_url, "http://acme.localhost:8123")
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "http://acme.localhost:8123"
        assert "POST" in allowed.headers["access-control-allow-methods"]
        refused = _preflight(bucket_url, "http://evil.example.com")
        assert refused.headers.get("access-control-allow-origin") is None

        # A form upload's answer carries the rule's headers too (as S3's does), or a browser drops it.
        post = store.presign_post("k/a.txt", size=3, content_type="text/plain")
        for origin, allowed_origin in (
            ("http://acme.localhost:8123", "http://acme.localhost:8123"),
            ("http://evil.example.com", None),
        ):
            sent = httpx.post(
                post.url,
                data=post.fields,
                files={"file": ("a.txt", b"abc", "text/plain")},
                headers={"Origin": origin},
                timeout=5,
            )
            assert sent.status_code == 204
            assert sent.headers.get("access-control-allow-origin") == allowed_origin

        store.allow_browser_uploads(["https://*.example.com"])  # replaces the rule
        assert [r["AllowedOrigins"] for r in store.cors_rules()] == [["https://*.example.com"]]
        store.client.delete_bucket_cors(Bucket=store.bucket)
        assert store.cors_rules() == []
