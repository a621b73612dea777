"""The chart's settings for many tenants: the Host hash of the Ingress and the pool settings."""

from __future__ import annotations

from tests.deploy.test_deploy_files import (
    MINIMAL,
    RELEASE,
    _documents,
    _render_raw,
    by_kind,
    component,
    render,
)

HASH = "nginx.ingress.kubernetes.io/upstream-hash-by"


def _ingress_annotations(values: dict) -> dict[str, str]:
    ingress = by_kind(_documents(_render_raw(values)), "Ingress")[f"{RELEASE}-platform"]
    return ingress["metadata"].get("annotations") or {}


def test_hash_by_host_pins_each_tenant_host_to_one_pod_behind_nginx():
    assert (
        _ingress_annotations({**MINIMAL, "ingress": {"className": "nginx", "hashByHost": True}})[HASH]
        == "$host"
    )
    assert HASH not in _ingress_annotations({**MINIMAL, "ingress": {"className": "nginx"}})  # off by default
    # Another controller: nothing nginx-specific is assumed (its own annotation goes under annotations).
    assert HASH not in _ingress_annotations(
        {**MINIMAL, "ingress": {"className": "traefik", "hashByHost": True}}
    )


def test_the_full_values_hash_by_host_and_set_the_pool_settings():
    assert (
        by_kind(render("full"), "Ingress")[f"{RELEASE}-platform"]["metadata"]["annotations"][HASH] == "$host"
    )
    config = component(render("minimal"), "ConfigMap", "config")["data"]
    assert config["DB_TENANT_AFFINITY"] == "true"
    assert config["DB_TENANT_SLICES"] == "8"
    assert config["DB_SLICE_POOL_SIZE"] == "2"
    assert config["DB_SLICE_WAIT_MS"] == "100"
    assert config["DB_RECYCLE_AFTER_SCHEMAS"] == "2000"
    assert config["TENANT_CACHE_PRELOAD"] == "true"
