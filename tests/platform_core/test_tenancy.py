"""The tenancy dependency on real routes: which hosts reach tenant data, and what others get."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_DOMAIN, client_for


@pytest.mark.parametrize(
    ("host", "status", "code"),
    [
        (f"nobody.{BASE_DOMAIN}", 404, "tenant_not_found"),
        (f"www.{BASE_DOMAIN}", 404, "tenant_not_found"),
        (f"admin.{BASE_DOMAIN}", 404, "tenant_not_found"),
        (BASE_DOMAIN, 404, "tenant_not_found"),
        (f"alpha.beta.{BASE_DOMAIN}", 404, "tenant_not_found"),
        ("alpha.example.org", 404, "tenant_not_found"),
        ("alpha_.example.com", 400, "invalid_host"),
        ("alpha.example.com:abc", 400, "invalid_host"),
    ],
)
async def test_tenant_routes_refuse_hosts_that_are_not_a_tenant(app, tenant_a, host, status, code):
    async with client_for(app, "placeholder") as client:
        for method, path in (("GET", "/api/v1/items"), ("POST", "/api/v1/items")):
            response = await client.request(method, path, headers={"host": host}, json={"title": "x"})
            assert response.status_code == status
            assert response.json()["error"]["code"] == code
    async with client_for(app, f"{tenant_a.slug}.{BASE_DOMAIN}") as client:
        assert (await client.get("/api/v1/items")).json()["total"] == 0


async def test_host_with_port_and_uppercase_reaches_the_tenant(app, tenant_a):
    async with client_for(app, f"{tenant_a.slug.upper()}.{BASE_DOMAIN}:8443") as client:
        assert (await client.get("/api/v1/items")).status_code == 200
