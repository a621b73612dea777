"""Every route is gated or explicitly public, and every permission lets its holders in and no one else."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import Depends
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from platform_core.access.dependencies import GATE_ATTRIBUTE, require
from platform_core.access.permissions import ALL, Permission
from platform_core.app.main import create_app
from platform_core.kernel.settings import Settings
from tests.conftest import signed_in
from tests.factories import access_token, create_role, create_user


def _gates(dependant: Dependant) -> Iterator[str]:
    for dependency in dependant.dependencies:
        gate = getattr(dependency.call, GATE_ATTRIBUTE, None)
        if gate is not None:
            yield gate
        yield from _gates(dependency)


def route_gates() -> list[tuple[APIRoute, list[str]]]:
    """Every API route of the app with the gates it declares."""
    app = create_app(Settings())
    return [(route, list(_gates(route.dependant))) for route in app.routes if isinstance(route, APIRoute)]


def test_every_route_is_gated_or_marked_public():
    ungated = [f"{sorted(r.methods)} {r.path}" for r, gates in route_gates() if not gates]
    assert ungated == [], "routes with neither a permission, a user/operator gate nor the public marker"


def test_routes_declare_one_gate_each():
    doubled = [f"{r.path}: {gates}" for r, gates in route_gates() if len(set(gates)) > 1]
    assert doubled == []


def test_tenant_data_routes_are_not_public():
    public = {r.path for r, gates in route_gates() if gates == ["public"]}
    assert not {
        p for p in public if re.match(r"^/api/v1/(items|jobs|reports|members|roles|audit|api-keys)", p)
    }


PERMISSION_ROUTES = sorted(
    {
        (sorted(r.methods)[0], r.path, g.removeprefix("permission:"))
        for r, gates in route_gates()
        for g in gates
        if g.startswith("permission:")
    }
)


@pytest.fixture
async def powerless(app, db, settings, tenant_a):
    """A client signed in as a member whose role grants nothing."""
    role = await create_role(db, tenant_a, "nothing", [])
    user = await create_user(db, tenant_a, role_id=role.id)
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, user.id)) as client:
        yield client


@pytest.mark.parametrize(("method", "path", "permission"), PERMISSION_ROUTES, ids=lambda v: str(v))
async def test_every_permission_route_denies_a_member_without_it(powerless, method, path, permission):
    url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    response = await powerless.request(method, url, json={})
    assert response.status_code == 403, response.text
    assert response.json()["error"] == {
        "code": "permission_denied",
        "message": f"This needs the `{permission}` permission.",
        "details": {"permission": permission},
    }


@pytest.mark.parametrize(("method", "path", "permission"), PERMISSION_ROUTES, ids=lambda v: str(v))
async def test_every_permission_route_refuses_anonymous_callers(anon_a, method, path, permission):
    url = re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)
    response = await anon_a.request(method, url, json={})
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


@pytest.mark.parametrize("permission", sorted(Permission), ids=lambda p: p.value)
async def test_each_permission_admits_exactly_its_holders(app: Any, db, settings, tenant_a, permission):
    @app.get(f"/probe/{permission.value}", dependencies=[Depends(require(permission))])
    async def probe() -> dict[str, str]:
        """Answer when the caller holds the permission."""
        return {"ok": permission.value}

    holder_role = await create_role(db, tenant_a, "holder", [permission.value])
    others_role = await create_role(db, tenant_a, "others", sorted(p.value for p in ALL - {permission}))
    holder = await create_user(db, tenant_a, role_id=holder_role.id)
    other = await create_user(db, tenant_a, role_id=others_role.id)
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, holder.id)) as client:
        assert (await client.get(f"/probe/{permission.value}")).json() == {"ok": permission.value}
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, other.id)) as client:
        denied = await client.get(f"/probe/{permission.value}")
        assert denied.status_code == 403
        assert denied.json()["error"]["details"] == {"permission": permission.value}
