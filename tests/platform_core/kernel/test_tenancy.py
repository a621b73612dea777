"""The tenancy dependency on real routes: which hosts reach tenant data, and what others get."""

from __future__ import annotations

import uuid

import pytest

from platform_core.items.models import Item
from platform_core.kernel.errors import Conflict
from platform_core.kernel.tenancy import TenantSessionDep
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
async def test_tenant_routes_refuse_hosts_that_are_not_a_tenant(app, client_a, host, status, code):
    async with client_for(app, "placeholder") as client:
        for method, path in (("GET", "/api/v1/items"), ("POST", "/api/v1/items")):
            response = await client.request(method, path, headers={"host": host}, json={"title": "x"})
            assert response.status_code == status
            assert response.json()["error"]["code"] == code
    assert (await client_a.get("/api/v1/items")).json()["total"] == 0


async def test_host_with_port_and_uppercase_reaches_the_tenant(app, client_a, tenant_a):
    async with client_for(app, f"{tenant_a.slug.upper()}.{BASE_DOMAIN}:8443") as client:
        client.headers["Authorization"] = client_a.headers["Authorization"]
        assert (await client.get("/api/v1/items")).status_code == 200


async def test_a_failed_commit_is_a_500_not_a_success(app, client_a, db, tenant_a):
    """The session commits before the response starts: a commit that fails cannot look like a 201."""
    taken = uuid.uuid4()
    async with db.session(tenant_a.schema_name) as session:
        session.add(Item(id=taken, title="first", tags=[]))
        await session.commit()

    @app.post("/clash", status_code=201)
    async def clash(session: TenantSessionDep) -> dict[str, str]:
        """Stage a row whose primary key is taken; the failure surfaces only at commit."""
        session.add(Item(id=taken, title="second", tags=[]))
        return {"status": "created"}

    response = await client_a.post("/clash")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "internal_error"
    titles = [i["title"] for i in (await client_a.get("/api/v1/items")).json()["items"]]
    assert titles == ["first"]


async def test_an_error_response_rolls_back_what_the_handler_wrote(app, client_a):
    @app.post("/write-then-refuse")
    async def write_then_refuse(session: TenantSessionDep) -> None:
        """Write, then fail with an expected error."""
        session.add(Item(title="must not stay", tags=[]))
        await session.flush()
        raise Conflict("refused after writing")

    response = await client_a.post("/write-then-refuse")
    assert response.status_code == 409
    assert (await client_a.get("/api/v1/items")).json()["total"] == 0
