"""The roles pages over HTTP: the list, the permission editor (create, change), deleting, built-in roles
read-only, and the roles service's rules shown on the page."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from platform_core.access.models import Role
from platform_core.access.permissions import Permission, builtin_role_id
from tests.conftest import client_for, host_of
from tests.factories import create_role, create_user
from tests.platform_core.auth.test_sign_in import audit_actions
from tests.platform_core.console.support import console_sign_in, csrf_of, nonce_of, post_form


@pytest.fixture
async def browser_a(app: Any, tenant_a: Any) -> Any:
    """A cookie-keeping client on tenant alpha's host, not signed in."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


async def signed_in_as(client: Any, db: Any, tenant: Any, role: str, **fields: Any) -> Any:
    """A new user of `role`, signed in to the console with `client`."""
    user = await create_user(db, tenant, role=role, **fields)
    assert (await console_sign_in(client, user.email)).status_code == 303
    return user


async def role_named(db: Any, tenant: Any, name: str) -> Role | None:
    """The role called `name`, if any."""
    async with db.session(tenant.schema_name) as session:
        return (await session.execute(select(Role).where(Role.name == name))).scalar_one_or_none()


async def create_in_editor(client: Any, **fields: Any) -> Any:
    """Send the new-role editor as a browser would."""
    html = (await client.get("/roles/new")).text
    data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html), **fields}
    return await client.post("/roles", data=data)


class TestRolesPage:
    async def test_lists_builtin_and_custom_roles(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "admin")
        custom = await create_role(db, tenant_a, "auditor", ["audit:read", "items:read"])
        page = await browser_a.get("/roles")
        assert page.status_code == 200
        for name in ("owner", "admin", "member", "viewer", "auditor"):
            assert f'data-role="{name}"' in page.text
        assert f'action="/roles/{custom.id}/delete"' in page.text
        assert f'action="/roles/{builtin_role_id("viewer")}/delete"' not in page.text
        assert 'aria-current="page">Roles' in page.text

    async def test_without_roles_manage_the_pages_are_403(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "member")
        assert 'href="/roles"' not in (await browser_a.get("/")).text
        for path in ("/roles", "/roles/new", f"/roles/{builtin_role_id('viewer')}"):
            response = await browser_a.get(path)
            assert response.status_code == 403, path
            assert "roles:manage" in response.text
        token = csrf_of((await browser_a.get("/")).text)
        refused = await browser_a.post("/roles", data={"csrf_token": token, "name": "sneaky"})
        assert refused.status_code == 403
        assert await role_named(db, tenant_a, "sneaky") is None

    async def test_the_editor_shows_every_permission_by_area(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "admin")
        editor = (await browser_a.get("/roles/new")).text
        for permission in Permission:
            assert f'value="{permission.value}"' in editor
        assert "<h3>API keys</h3>" in editor
        assert "<h3>Items</h3>" in editor
        # an admin lacks billing:manage, so it cannot be ticked
        assert 'value="billing:manage" disabled' in editor
        assert 'value="billing:read">' in editor

    async def test_create_a_role(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        created = await create_in_editor(
            browser_a,
            name="support",
            description="Answers tickets",
            permissions=["items:read", "members:read"],
        )
        assert created.status_code == 303
        assert created.headers["location"] == "/roles"
        assert "The role support is created." in (await browser_a.get("/roles")).text
        role = await role_named(db, tenant_a, "support")
        assert role is not None
        assert sorted(role.permissions) == ["items:read", "members:read"]
        assert role.description == "Answers tickets"
        assert "role.created" in await audit_actions(db, tenant_a)

    async def test_a_double_submit_creates_one_role(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        html = (await browser_a.get("/roles/new")).text
        data = {"csrf_token": csrf_of(html), "form_nonce": nonce_of(html), "name": "once", "permissions": []}
        assert (await browser_a.post("/roles", data=data)).status_code == 303
        assert (await browser_a.post("/roles", data=data)).status_code == 303
        assert await role_named(db, tenant_a, "once") is not None

    @pytest.mark.parametrize(
        ("fields", "status", "field", "message"),
        [
            ({"name": "Bad Name"}, 422, "name", "String should match pattern"),
            ({"name": "viewer"}, 409, "name", "A role with this name already exists."),
            ({"name": "x", "permissions": ["items:read"]}, 422, "name", "String should match pattern"),
            ({"name": "rich", "permissions": ["billing:manage"]}, 403, "permissions", "billing:manage"),
            ({"name": "ghost", "permissions": ["ghost:read"]}, 422, "permissions", "Unknown permission"),
        ],
    )
    async def test_bad_roles_are_errors_on_the_editor(
        self, browser_a, db, tenant_a, fields, status, field, message
    ):
        await signed_in_as(browser_a, db, tenant_a, "admin")
        response = await create_in_editor(browser_a, **fields)
        assert response.status_code == status
        assert f'id="e-{field}"' in response.text
        assert message in response.text
        assert await role_named(db, tenant_a, fields["name"]) is None or fields["name"] == "viewer"
        for permission in fields.get("permissions", []):
            if permission in {p.value for p in Permission}:
                assert f'value="{permission}" checked' in response.text  # what was ticked stays ticked

    async def test_change_a_custom_role(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        role = await create_role(db, tenant_a, "helper", ["items:read", "items:write"])
        editor = await browser_a.get(f"/roles/{role.id}")
        assert editor.status_code == 200
        assert 'value="items:write" checked' in editor.text
        data = {"name": "helper2", "description": "", "permissions": ["items:read"]}
        saved = await post_form(browser_a, f"/roles/{role.id}", f"/roles/{role.id}", data)
        assert saved.status_code == 303
        async with db.session(tenant_a.schema_name) as session:
            stored = await session.get(Role, role.id)
            assert (stored.name, stored.permissions) == ("helper2", ["items:read"])
        no_boxes = await post_form(browser_a, f"/roles/{role.id}", f"/roles/{role.id}", {"name": "helper2"})
        assert no_boxes.status_code == 303  # no box ticked: the role grants nothing
        async with db.session(tenant_a.schema_name) as session:
            assert (await session.get(Role, role.id)).permissions == []
        assert "role.updated" in await audit_actions(db, tenant_a)

    async def test_builtin_roles_are_read_only(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        viewer = builtin_role_id("viewer")
        page = await browser_a.get(f"/roles/{viewer}")
        assert page.status_code == 200
        assert "Built-in roles cannot be changed" in page.text
        assert f'action="/roles/{viewer}"' not in page.text
        assert 'value="items:read" checked disabled' in page.text
        token = csrf_of(page.text)
        changed = await browser_a.post(f"/roles/{viewer}", data={"csrf_token": token, "name": "viewer2"})
        assert changed.status_code == 409
        deleted = await browser_a.post(f"/roles/{viewer}/delete", data={"csrf_token": token})
        assert deleted.status_code == 409
        assert "Built-in roles cannot be changed or deleted" in deleted.text
        assert await role_named(db, tenant_a, "viewer") is not None

    async def test_delete_a_role_unless_in_use(self, browser_a, db, tenant_a):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        used = await create_role(db, tenant_a, "inuse", ["items:read"])
        await create_user(db, tenant_a, role_id=used.id)
        free = await create_role(db, tenant_a, "unused", ["items:read"])
        refused = await post_form(browser_a, "/roles", f"/roles/{used.id}/delete", {})
        assert refused.status_code == 409
        assert "still have this role" in refused.text
        deleted = await post_form(browser_a, "/roles", f"/roles/{free.id}/delete", {})
        assert deleted.status_code == 303
        assert "The role unused is deleted." in (await browser_a.get("/roles")).text
        assert await role_named(db, tenant_a, "unused") is None
        assert await role_named(db, tenant_a, "inuse") is not None
        assert "role.deleted" in await audit_actions(db, tenant_a)

    async def test_another_tenants_role_is_404(self, browser_a, db, tenant_a, tenant_b):
        await signed_in_as(browser_a, db, tenant_a, "owner")
        theirs = await create_role(db, tenant_b, "theirs", ["items:read"])
        assert (await browser_a.get(f"/roles/{theirs.id}")).status_code == 404
        token = csrf_of((await browser_a.get("/roles")).text)
        gone = await browser_a.post(f"/roles/{theirs.id}/delete", data={"csrf_token": token})
        assert gone.status_code == 404
        assert await role_named(db, tenant_b, "theirs") is not None
