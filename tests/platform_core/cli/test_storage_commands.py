"""`platformctl storage allow-browser-uploads`: the bucket's CORS rule for the console's uploads."""

from __future__ import annotations

import json

import pytest


@pytest.fixture
def bucket(s3, s3_server):
    """The worker's bucket, put back to its rule for the tenant console's local origins afterwards."""
    rules = s3.cors_rules()
    yield s3
    s3.client.put_bucket_cors(Bucket=s3.bucket, CORSConfiguration={"CORSRules": rules})


def test_the_rule_covers_every_tenant_subdomain_and_the_given_origins(run_cli, bucket, monkeypatch):
    monkeypatch.setenv("TENANT_URL_TEMPLATE", "https://{slug}.{base_domain}")
    done = run_cli("storage", "allow-browser-uploads", "--origin", "https://files.acme.com")
    assert done.exit_code == 0, done.output
    origins = [rule["AllowedOrigins"] for rule in bucket.cors_rules()]
    assert origins == [["https://*.example.com", "https://files.acme.com"]]
    assert "browser uploads allowed from https://*.example.com, https://files.acme.com" in done.output


def test_a_dry_run_prints_the_rule_and_changes_nothing(run_cli, bucket, monkeypatch):
    monkeypatch.setenv("TENANT_URL_TEMPLATE", "https://{slug}.{base_domain}")
    before = bucket.cors_rules()
    shown = run_cli("storage", "allow-browser-uploads", "--dry-run")
    assert shown.exit_code == 0, shown.output
    (rule,) = json.loads(shown.output)["CORSRules"]
    assert rule["AllowedOrigins"] == ["https://*.example.com"]
    assert rule["AllowedMethods"] == ["POST", "PUT", "GET", "HEAD"]
    assert bucket.cors_rules() == before
