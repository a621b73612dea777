"""Provisioning and lifecycle, seen through the service and the tenant's host."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, text

from platform_core.items.models import Item
from platform_core.kernel.db.base import TenantBase
from tenants.exceptions import InvalidSlug, InvalidTenantState, SlugTaken, TenantNotFound
from tenants.models import Tenant
from tests.conftest import BASE_DOMAIN, client_for, owner_client


def _slug(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _schema_exists(sync_db, schema: str) -> bool:
    with sync_db.sync_session() as session:
        return (
            session.scalar(text("SELECT count(*) FROM pg_namespace WHERE nspname = :s"), {"s": schema}) == 1
        )


def _tables(sync_db, schema: str) -> set[str]:
    with sync_db.sync_session() as session:
        rows = session.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = :s"), {"s": schema})
        return {r[0] for r in rows}


class TestCreate:
    def test_creates_schema_at_head(self, tenant_service, sync_db):
        tenant = tenant_service.create(slug=_slug("new"), name="New", owner_email="o@new.example.com")
        assert tenant.schema_name == f"t_{tenant.id.hex}"
        tables = {table.name for table in TenantBase.metadata.tables.values()}
        assert {"item", "user_account", "role"} <= tables
        assert _tables(sync_db, tenant.schema_name) == tables | {"alembic_version"}
        with sync_db.sync_session() as session:
            version = session.scalar(text(f'SELECT version_num FROM "{tenant.schema_name}".alembic_version'))
        assert version == tenant.schema_revision

    def test_duplicate_slug_is_conflict_and_changes_nothing(self, tenant_service, sync_db):
        slug = _slug("dup")
        tenant_service.create(slug=slug, name="First")
        with sync_db.sync_session() as session:
            before = session.scalar(select(text("count(*)")).select_from(Tenant))
        with pytest.raises(SlugTaken) as excinfo:
            tenant_service.create(slug=slug, name="Second")
        assert excinfo.value.status_code == 409
        with sync_db.sync_session() as session:
            assert session.scalar(select(text("count(*)")).select_from(Tenant)) == before

    @pytest.mark.parametrize("slug", ["www", "ab", "Bad_Slug"])
    def test_invalid_slug_is_422(self, tenant_service, slug):
        with pytest.raises(InvalidSlug):
            tenant_service.create(slug=slug, name="x")

    def test_failure_mid_provisioning_leaves_no_row_and_no_schema(self, tenant_service, sync_db, monkeypatch):
        # A real database failure: the schema name the new tenant will get already exists.
        fixed = uuid.uuid4()
        with sync_db.sync_session() as session:
            session.execute(text(f'CREATE SCHEMA "t_{fixed.hex}"'))
            session.execute(text(f'CREATE TABLE "t_{fixed.hex}".squatter (id int)'))
            session.commit()
        monkeypatch.setattr("tenants.provisioning.uuid.uuid4", lambda: fixed)
        slug = _slug("boom")
        with pytest.raises(Exception, match="already exists"):
            tenant_service.create(slug=slug, name="Boom")
        with sync_db.sync_session() as session:
            assert session.get(Tenant, fixed) is None
            assert session.scalar(select(Tenant).where(Tenant.slug == slug)) is None
        assert _tables(sync_db, f"t_{fixed.hex}") == {"squatter"}  # untouched: nothing of ours left behind


class TestLifecycleOverHttp:
    async def test_suspend_then_resume(self, app, settings, sync_db, tenant_service):
        slug = _slug("sus")
        tenant = tenant_service.create(slug=slug, name="Sus")
        tenant_service.suspend(slug, reason="payment overdue")
        async with owner_client(app, settings, sync_db, tenant) as client:
            response = await client.get("/api/v1/items")
            assert response.status_code == 403
            error = response.json()["error"]
            assert error["code"] == "tenant_suspended"
            assert "payment overdue" in error["message"]
            tenant_service.resume(slug)
            app.state.tenant_resolver.invalidate()
            assert (await client.get("/api/v1/items")).status_code == 200

    async def test_rename_moves_the_host_and_keeps_the_data(self, app, settings, tenant_service, sync_db):
        old, new = _slug("old"), _slug("new")
        tenant = tenant_service.create(slug=old, name="Mover")
        with sync_db.sync_session(tenant.schema_name) as session:
            session.add(Item(title="survives rename", tags=[]))
            session.commit()
        renamed = tenant_service.rename(old, new_slug=new)
        assert renamed.schema_name == tenant.schema_name
        app.state.tenant_resolver.invalidate()
        async with owner_client(app, settings, sync_db, renamed) as client:
            body = (await client.get("/api/v1/items")).json()
        assert [i["title"] for i in body["items"]] == ["survives rename"]
        async with owner_client(app, settings, sync_db, renamed, host=f"{old}.{BASE_DOMAIN}") as client:
            assert (await client.get("/api/v1/items")).status_code == 404

    def test_rename_to_taken_or_invalid_slug_fails(self, tenant_service, tenant_a):
        slug = _slug("ren")
        tenant_service.create(slug=slug, name="Ren")
        with pytest.raises(SlugTaken):
            tenant_service.rename(slug, new_slug=tenant_a.slug)
        with pytest.raises(InvalidSlug):
            tenant_service.rename(slug, new_slug="admin")
        assert tenant_service.get(slug).slug == slug

    async def test_delete_keeps_data_for_grace_then_purges(self, app, tenant_service, sync_db):
        slug = _slug("del")
        tenant = tenant_service.create(slug=slug, name="Del")
        marked = tenant_service.mark_deleted(slug, grace_days=30)
        assert marked.status == "deleting"
        assert marked.purge_after is not None
        async with client_for(app, f"{slug}.{BASE_DOMAIN}") as client:
            response = await client.get("/api/v1/items")
        assert response.status_code == 410
        assert response.json()["error"]["code"] == "tenant_deleted"
        assert _schema_exists(sync_db, tenant.schema_name)
        with pytest.raises(InvalidTenantState, match="grace period"):
            tenant_service.purge(slug)
        assert _schema_exists(sync_db, tenant.schema_name)
        purged = tenant_service.purge(slug, force=True)
        assert purged.status == "deleted"
        assert not _schema_exists(sync_db, tenant.schema_name)
        with pytest.raises(TenantNotFound):
            tenant_service.get(slug)
        reused = tenant_service.create(slug=slug, name="Reuses the slug")  # a purged tenant frees its slug
        assert reused.id != tenant.id

    def test_resume_cancels_a_pending_deletion(self, tenant_service):
        slug = _slug("undo")
        tenant_service.create(slug=slug, name="Undo")
        tenant_service.mark_deleted(slug)
        resumed = tenant_service.resume(slug)
        assert (resumed.status, resumed.purge_after) == ("active", None)

    def test_purge_requires_deletion_first(self, tenant_service):
        slug = _slug("live")
        tenant_service.create(slug=slug, name="Live")
        with pytest.raises(InvalidTenantState):
            tenant_service.purge(slug, force=True)

    def test_unknown_tenant(self, tenant_service):
        with pytest.raises(TenantNotFound):
            tenant_service.suspend("no-such-tenant", reason="x")
