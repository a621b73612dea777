"""Operators delete a tenant (kept for its grace period) and restore it, both audited."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.audit.service import AuditAction
from platform_core.operators.models import OperatorAction
from tests.conftest import owner_client
from tests.platform_core.operators.conftest import bearer


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def _audit(db, tenant, action: AuditAction) -> list[AuditEvent]:
    async with db.session(tenant.schema_name) as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action.value)
        return list((await session.scalars(stmt)).all())


async def _operator_log(db, slug: str) -> list[OperatorAction]:
    async with db.session(None) as session:
        stmt = (
            select(OperatorAction)
            .where(OperatorAction.target_id == slug)
            .order_by(OperatorAction.occurred_at)
        )
        return list((await session.scalars(stmt)).all())


async def test_delete_closes_the_host_keeps_the_data_and_is_audited(
    live_app, live_admin, db, settings, sync_db, tenant_service, live_operator
):
    slug = _slug("del")
    tenant = tenant_service.create(slug=slug, name="Deleted")
    async with owner_client(live_app, settings, sync_db, tenant) as owner:
        response = await live_admin.delete(f"/api/v1/operator/tenants/{slug}", params={"grace_days": 3})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["status"] == "deleting"
        assert body["purge_after"] is not None
        live_app.state.tenant_resolver.invalidate()
        gone = await owner.get("/api/v1/items")
        assert gone.status_code == 410
    [event] = await _audit(db, tenant, AuditAction.TENANT_DELETED)
    assert (event.actor_type, event.actor_id, event.actor_label) == (
        "operator",
        live_operator.id,
        live_operator.email,
    )
    assert event.details["from"] == "active"
    [logged] = await _operator_log(db, slug)
    assert (logged.action, logged.operator_id, logged.target_type) == (
        "tenant.deleted",
        live_operator.id,
        "tenant",
    )
    # Deleting again changes nothing and records nothing more.
    again = await live_admin.delete(f"/api/v1/operator/tenants/{slug}")
    assert again.status_code == 200
    assert len(await _audit(db, tenant, AuditAction.TENANT_DELETED)) == 1


async def test_restore_brings_a_deleting_tenant_back_and_is_audited(admin, db, tenant_service, operator):
    slug = _slug("rst")
    tenant = tenant_service.create(slug=slug, name="Restored")
    tenant_service.mark_deleted(slug)
    response = await admin.post(f"/api/v1/operator/tenants/{slug}/restore")
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["purge_after"]) == ("active", None)
    [event] = await _audit(db, tenant, AuditAction.TENANT_RESTORED)
    assert (event.actor_type, event.actor_id) == ("operator", operator.id)
    assert event.details["purge_after"] is not None


async def test_restore_refuses_a_tenant_not_marked_for_deletion(admin, db, tenant_service):
    slug = _slug("nrs")
    tenant = tenant_service.create(slug=slug, name="Not deleting")
    response = await admin.post(f"/api/v1/operator/tenants/{slug}/restore")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "invalid_tenant_state"
    assert await _audit(db, tenant, AuditAction.TENANT_RESTORED) == []


@pytest.mark.parametrize("slug", ["no-such-tenant", "NOPE"])
async def test_unknown_slug_is_404(admin, slug):
    assert (await admin.delete(f"/api/v1/operator/tenants/{slug}")).status_code == 404
    assert (await admin.post(f"/api/v1/operator/tenants/{slug}/restore")).status_code == 404


@pytest.mark.parametrize("grace", ["-1", "366", "x"])
async def test_bad_grace_days_is_422(admin, tenant_a, grace):
    response = await admin.delete("/api/v1/operator/tenants/alpha", params={"grace_days": grace})
    assert response.status_code == 422
    assert (await admin.get("/api/v1/operator/tenants/alpha")).json()["status"] == "active"


async def test_only_operators_on_their_host(admin_anon, client_a, settings, tenant_a):
    assert (await admin_anon.delete("/api/v1/operator/tenants/alpha")).status_code == 401
    assert (await client_a.delete("/api/v1/operator/tenants/alpha")).status_code == 404
    assert (
        await client_a.post("/api/v1/operator/tenants/alpha/restore", headers=bearer("x"))
    ).status_code == 404
