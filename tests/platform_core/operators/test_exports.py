"""Operators ask for a tenant's export: a worker builds the archive into the object storage, and the
operator API gives a short-lived link to it."""

from __future__ import annotations

import io
import json
import tarfile
import uuid

import httpx
import pytest
from sqlalchemy import select

from platform_core.audit.models import AuditEvent
from platform_core.operators.models import TenantExport
from platform_core.operators.tasks import export_tenant
from tests.support.billing import run_task


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_an_export_is_built_by_a_worker_and_downloaded(
    live_admin, s3, settings, monkeypatch, sync_db, tenant_service, live_operator
):
    slug = _slug("exp")
    tenant = tenant_service.create(slug=slug, name="Exported", owner_email="owner@exported.example.org")
    s3.put(f"tenants/{tenant.id}/uploads/x/notes.txt", b"hello", content_type="text/plain")
    asked = await live_admin.post(f"/api/v1/operator/tenants/{slug}/exports", json={"with_files": True})
    assert asked.status_code == 202, asked.text
    export_id = asked.json()["id"]
    assert (asked.json()["status"], asked.json()["download_url"]) == ("queued", None)
    waiting = await live_admin.get(f"/api/v1/operator/tenants/{slug}/exports/{export_id}")
    assert (waiting.json()["status"], waiting.json()["download_url"]) == ("queued", None)

    run_task(export_tenant, settings, monkeypatch, export_id=export_id)

    done = (await live_admin.get(f"/api/v1/operator/tenants/{slug}/exports/{export_id}")).json()
    assert done["status"] == "succeeded", done
    assert done["files"] == 1
    assert done["rows"] >= 1
    async with httpx.AsyncClient() as client:
        archive = await client.get(done["download_url"])
    assert archive.status_code == 200
    assert len(archive.content) == done["size_bytes"]
    with tarfile.open(fileobj=io.BytesIO(archive.content), mode="r:gz") as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
        assert tar.extractfile("files/uploads/x/notes.txt").read() == b"hello"
        users = tar.extractfile("tables/user_account.jsonl").read().decode()
    assert manifest["tenant"]["slug"] == slug
    assert "owner@exported.example.org" in users
    assert '"password_hash": null' in users
    listed = (await live_admin.get(f"/api/v1/operator/tenants/{slug}/exports")).json()
    assert [e["id"] for e in listed["items"]] == [export_id]
    with sync_db.sync_session(tenant.schema_name) as session:
        [event] = session.scalars(
            select(AuditEvent).where(AuditEvent.action == "tenant.export_requested")
        ).all()
    assert (event.actor_id, event.details) == (live_operator.id, {"export_id": export_id, "with_files": True})
    # A second delivery of the task changes nothing.
    run_task(export_tenant, settings, monkeypatch, export_id=export_id)
    with sync_db.sync_session() as session:
        assert session.get(TenantExport, uuid.UUID(export_id)).status == "succeeded"


async def test_an_export_of_a_tenant_purged_meanwhile_fails_visibly(
    live_admin, s3, settings, monkeypatch, sync_db, tenant_service
):
    slug = _slug("gone")
    tenant_service.create(slug=slug, name="Gone")
    export_id = (await live_admin.post(f"/api/v1/operator/tenants/{slug}/exports", json={})).json()["id"]
    tenant_service.mark_deleted(slug)
    tenant_service.purge(slug, force=True)
    run_task(export_tenant, settings, monkeypatch, export_id=export_id)
    with sync_db.sync_session() as session:
        export = session.get(TenantExport, uuid.UUID(export_id))
    assert (export.status, export.error) == ("failed", "The tenant has no data to export any more.")


async def test_without_object_storage_the_request_is_503(admin, tenant_a, monkeypatch):
    from platform_core.uploads.settings import get_s3_settings
    from platform_core.uploads.storage import get_store

    monkeypatch.setenv("S3_BUCKET", "")
    get_s3_settings.cache_clear()
    get_store.cache_clear()
    try:
        response = await admin.post("/api/v1/operator/tenants/alpha/exports", json={})
    finally:
        get_s3_settings.cache_clear()
        get_store.cache_clear()
    assert response.status_code == 503
    assert (await admin.get("/api/v1/operator/tenants/alpha/exports")).json() == {"items": []}


@pytest.mark.parametrize("export_id", ["3f0c2a4e-9b1d-4c7e-8a55-2d6f1e0b9c34", "not-a-uuid"])
async def test_an_unknown_export_is_404(admin, tenant_a, export_id):
    response = await admin.get(f"/api/v1/operator/tenants/alpha/exports/{export_id}")
    assert response.status_code in (404, 422)
    if response.status_code == 404:
        assert response.json()["error"]["code"] == "export_not_found"


async def test_another_tenants_export_is_404(live_admin, s3, tenant_service):
    one, other = _slug("one"), _slug("two")
    tenant_service.create(slug=one, name="One")
    tenant_service.create(slug=other, name="Two")
    export_id = (await live_admin.post(f"/api/v1/operator/tenants/{one}/exports", json={})).json()["id"]
    response = await live_admin.get(f"/api/v1/operator/tenants/{other}/exports/{export_id}")
    assert response.status_code == 404


async def test_exports_need_an_operator_on_the_operator_host(admin_anon, client_a):
    assert (await admin_anon.post("/api/v1/operator/tenants/alpha/exports", json={})).status_code == 401
    assert (await client_a.post("/api/v1/operator/tenants/alpha/exports", json={})).status_code == 404


def test_the_worker_has_the_export_task(settings):
    from platform_core.operators.tenants import EXPORT_TASK
    from workers.celery_app import create_celery

    app = create_celery(settings)
    app.loader.import_default_modules()
    assert EXPORT_TASK in app.tasks
