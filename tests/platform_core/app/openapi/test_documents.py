"""Each kind of host serves the document of its own routes, with security and errors in the envelope."""

from __future__ import annotations

import pytest

from tests.conftest import BASE_DOMAIN, client_for


@pytest.fixture
async def documents(app, anon_a):
    """The documents served on a tenant host, the operator host and the apex."""
    async with (
        client_for(app, f"admin.{BASE_DOMAIN}") as operator,
        client_for(app, BASE_DOMAIN) as platform,
    ):
        tenant = (await anon_a.get("/openapi.json")).json()
        return {
            "tenant": tenant,
            "operator": (await operator.get("/openapi.json")).json(),
            "platform": (await platform.get("/openapi.json")).json(),
        }


async def test_each_host_documents_only_its_routes(documents):
    tenant, operator, platform = (set(documents[k]["paths"]) for k in ("tenant", "operator", "platform"))
    assert "/api/v1/items" in tenant
    assert not {p for p in tenant if p.startswith("/api/v1/operator") or p == "/webhooks/stripe"}
    assert {p for p in operator if p.startswith("/api/v1/")} == {p for p in operator if "/operator/" in p}
    assert "/webhooks/stripe" in platform
    assert not {p for p in platform if p.startswith("/api/v1/")}


async def test_security_schemes_and_per_route_security(documents):
    tenant = documents["tenant"]
    schemes = tenant["components"]["securitySchemes"]
    assert schemes["password"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "http", "scheme": "bearer"}
    paths = tenant["paths"]
    assert paths["/api/v1/items"]["get"]["security"] == [{"password": []}, {"apiKey": []}]
    assert paths["/api/v1/users/me"]["get"]["security"] == [{"password": []}]
    assert paths["/api/v1/auth/token"]["post"]["security"] == []
    assert "`items:read`" in paths["/api/v1/items"]["get"]["description"]
    operator = documents["operator"]
    flows = operator["components"]["securitySchemes"]["operatorPassword"]["flows"]
    assert flows["password"]["tokenUrl"] == "/api/v1/operator/auth/token"


def _codes(response):
    schema = response["content"]["application/json"]["schema"]
    assert schema["allOf"][0] == {"$ref": "#/components/schemas/Error"}
    return set(schema["allOf"][1]["properties"]["error"]["properties"]["code"]["enum"])


async def test_errors_derived_from_the_gates(documents):
    paths = documents["tenant"]["paths"]
    get_item = paths["/api/v1/items/{item_id}"]["get"]["responses"]
    assert _codes(get_item["400"]) == {"invalid_host"}
    assert _codes(get_item["401"]) == {"not_authenticated", "invalid_token", "invalid_api_key"}
    assert _codes(get_item["402"]) == {"subscription_inactive"}
    assert _codes(get_item["403"]) == {"permission_denied", "tenant_suspended"}
    assert _codes(get_item["404"]) == {"item_not_found", "tenant_not_found"}
    assert _codes(get_item["410"]) == {"tenant_deleted"}
    assert _codes(get_item["422"]) == {"validation_error", "invalid_value"}
    assert _codes(get_item["429"]) == {"api_rate_limited"}
    create = paths["/api/v1/items"]["post"]["responses"]
    assert _codes(create["402"]) == {"payment_overdue", "subscription_inactive"}
    assert {"invalid_json", "validation_error"} <= _codes(create["422"])
    assert "HTTPValidationError" not in documents["tenant"]["components"]["schemas"]


async def test_metrics_are_in_no_document(documents):
    # /metrics is served on its own port (metrics_server), never by the API on any host.
    assert all("/metrics" not in document["paths"] for document in documents.values())


async def test_docs_page_uses_only_platform_assets(anon_a):
    page = (await anon_a.get("/docs")).text
    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower()
    assert (await anon_a.get("/docs/assets/swagger-ui-bundle.js")).status_code == 200


def _body_schema(document, path, method="post"):
    schema = document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]
    if "$ref" not in schema:
        return schema
    return document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]


async def test_validation_rules_the_code_enforces_are_in_the_schema(documents):
    tenant = documents["tenant"]
    for path, field in [
        ("/api/v1/auth/signup", "password"),
        ("/api/v1/auth/reset-password", "password"),
        ("/api/v1/users/me/password", "new_password"),
        ("/api/v1/invitations/accept", "password"),
    ]:
        rule = _body_schema(tenant, path)["properties"][field]
        assert (rule["minLength"], rule["maxLength"]) == (10, 128), path
    filename = _body_schema(tenant, "/api/v1/uploads")["properties"]["filename"]
    assert filename["maxLength"] == 255
    assert filename["minLength"] == 1
    assert "pattern" in filename
    audit = {p["name"]: p["schema"] for p in tenant["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert audit["since"]["anyOf"][0]["format"] == "date-time"
    owners = _body_schema(documents["operator"], "/api/v1/operator/tenants/{slug}/owners")
    assert owners["properties"]["password"]["minLength"] == 10
