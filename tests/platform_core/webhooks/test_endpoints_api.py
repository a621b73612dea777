"""The webhook endpoints API: registration (the secret shown once), changes, rotation, deletion, the
catalogue, the gates (permission and plan feature), bad input, and another tenant's ids."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.kernel.events import CATALOG
from tests.conftest import signed_in
from tests.factories import access_token, create_user

URL = "http://127.0.0.1:9/hook"


async def _create(client, **overrides):
    body = {"url": URL, "events": ["item.created", "item.deleted"], "description": "CRM sync", **overrides}
    return await client.post("/api/v1/webhook-endpoints", json=body)


async def test_create_shows_the_secret_once_and_reads_never_do(client_a, private_targets):
    created = await _create(client_a)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert len(body["secret"]) > 40
    assert body["enabled"] is True
    assert body["events"] == ["item.created", "item.deleted"]
    one = await client_a.get(f"/api/v1/webhook-endpoints/{body['id']}")
    assert one.status_code == 200
    assert "secret" not in one.json()
    listed = (await client_a.get("/api/v1/webhook-endpoints")).json()
    assert body["id"] in {e["id"] for e in listed["items"]}
    assert all("secret" not in e for e in listed["items"])


async def test_rotation_gives_a_new_secret_and_keeps_the_old_one_for_a_day(
    client_a, db, tenant_a, private_targets
):
    created = (await _create(client_a)).json()
    rotated = await client_a.post(f"/api/v1/webhook-endpoints/{created['id']}/rotate-secret")
    assert rotated.status_code == 200
    assert rotated.json()["secret"] != created["secret"]
    from platform_core.webhooks.models import WebhookEndpoint

    async with db.session(tenant_a.schema_name) as session:
        row = await session.get(WebhookEndpoint, uuid.UUID(created["id"]))
        assert row is not None
        assert row.previous_secret == created["secret"]
        assert row.previous_secret_until is not None


async def test_update_and_delete(client_a, db, tenant_a, private_targets):
    created = (await _create(client_a)).json()
    path = f"/api/v1/webhook-endpoints/{created['id']}"
    changed = await client_a.patch(path, json={"events": ["item.updated"], "enabled": False})
    assert changed.status_code == 200
    assert changed.json()["events"] == ["item.updated"]
    assert changed.json()["enabled"] is False
    assert changed.json()["disabled_reason"]
    enabled = await client_a.patch(path, json={"enabled": True})
    assert enabled.json()["enabled"] is True
    assert enabled.json()["disabled_reason"] is None
    assert (await client_a.delete(path)).status_code == 204
    assert (await client_a.get(path)).status_code == 404
    async with db.session(tenant_a.schema_name) as session:
        actions = (
            await session.execute(select(AuditEvent.action).where(AuditEvent.target_id == created["id"]))
        ).scalars()
        assert {"webhook.endpoint_created", "webhook.endpoint_updated", "webhook.endpoint_deleted"} <= set(
            actions
        )


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "https"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "link-local"),
        ("https://[::ffff:127.0.0.1]/hook", "loopback"),
        ("https://[::1]/hook", "loopback"),
        ("https://0.0.0.0/hook", "unspecified"),
        ("https://224.0.0.1/hook", "multicast"),
        ("https://localhost/hook", "loopback"),
        ("https://user:pw@example.com/hook", "user name"),
    ],
)
async def test_forbidden_targets_are_422_outside_development(client_a, public_targets_only, url, reason):
    response = await _create(client_a, url=url)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "webhook_target_not_allowed"
    assert reason in error["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": URL, "events": []}, "events"),
        ({"url": URL, "events": ["item.exploded"]}, "events"),
        ({"url": "", "events": ["item.created"]}, "url"),
        ({"url": URL, "events": ["item.created"], "secret": "mine"}, "secret"),
    ],
)
async def test_bad_bodies_are_422(client_a, private_targets, body, field):
    response = await client_a.post("/api/v1/webhook-endpoints", json=body)
    assert response.status_code == 422
    assert field in response.text


async def test_the_catalogue_lists_every_event_with_its_schema(client_a):
    response = await client_a.get("/api/v1/webhook-events")
    assert response.status_code == 200
    names = {e["name"]: e for e in response.json()}
    assert set(names) == set(CATALOG)
    assert names["item.created"]["data_schema"]["properties"]["title"]["type"] == "string"


async def test_a_plan_without_webhooks_is_refused(client_b, private_targets):
    response = await _create(client_b)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "feature_not_in_plan"


async def test_a_member_without_the_permission_is_refused(app, db, settings, tenant_a, private_targets):
    member = await create_user(
        db, tenant_a, role="member", email=f"m-{uuid.uuid4().hex[:6]}@alpha.example.org"
    )
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, member.id)) as client:
        response = await _create(client)
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "permission_denied"


async def test_the_openapi_document_has_every_event_as_a_webhook(anon_a):
    document = (await anon_a.get("/openapi.json")).json()
    assert set(document["webhooks"]) == set(CATALOG)
    created = document["webhooks"]["item.created"]["post"]
    body = created["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["type"]["const"] == "item.created"
    assert body["properties"]["data"] == {"$ref": "#/components/schemas/ItemData"}
    assert "title" in document["components"]["schemas"]["ItemData"]["properties"]
    assert {p["name"] for p in created["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
