"""Roles (`/roles`, permission roles:manage): the built-in roles (read-only) and the workspace's custom
roles, created and changed with a permission editor (a checkbox per permission of the catalogue, by area)
and deleted, through the roles service of `/api/v1/roles` and its rules (nobody grants more than they
hold, names are unique, a role in use is not deleted)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from platform_core.access.models import Role
from platform_core.access.permissions import Permission
from platform_core.console.forms import claim_submission, errors_by_field, new_nonce, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.lists import paging_of, permission_areas
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.members.exceptions import CannotGrant
from platform_core.members.service import grants
from platform_core.roles import service as role_service
from platform_core.roles.exceptions import (
    BuiltinRoleReadOnly,
    RoleInUse,
    RoleNameTaken,
    UnknownPermission,
)
from platform_core.roles.schemas import RoleCreate, RoleUpdate

router = tenant_router()

RolesPage = Annotated[TenantPage, Depends(permission_page(Permission.ROLES_MANAGE))]

_PAGE_SIZE = 50


async def _roles_page(page: TenantPage, problem: str | None = None, status: int = 200) -> Response:
    paging = paging_of(page.request.query_params.get("page"), _PAGE_SIZE)
    roles, total = await role_service.list_roles(page.session, paging)
    context: dict[str, Any] = {
        "roles": {"items": roles, "total": total, "page": paging.page, "page_size": paging.page_size},
        "grants": lambda role: sorted(p.value for p in grants(role)),
        "page_url": lambda n: f"/roles?page={n}",
        "problem": problem,
    }
    return render(page.request, "tenant/roles.html", context, status_code=status)


def _role_form(
    page: TenantPage,
    role: Role | None,
    values: dict[str, Any],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    """The permission editor: a new role (`role` None), a custom role to change, or a built-in role
    to read."""
    context: dict[str, Any] = {
        "role": role,
        "read_only": role is not None and role.builtin,
        "values": values,
        "checked": set(values.get("permissions", [])),
        "areas": permission_areas(page.user.permissions),
        "errors": errors,
        "new_nonce": new_nonce(),
        "action_url": f"/roles/{role.id}" if role is not None else "/roles",
    }
    return render(page.request, "tenant/role_form.html", context, status_code=status)


def _posted(form: Any) -> dict[str, Any]:
    """The editor's fields as posted; no box ticked means no permission (an unticked box is not sent)."""
    return {
        "name": str(form.get("name", "")).strip(),
        "description": str(form.get("description", "")),
        "permissions": [v for v in form.getlist("permissions") if isinstance(v, str)],
    }


def _refusal_errors(exc: Exception) -> dict[str, str]:
    """Where on the editor the service's refusal shows."""
    if isinstance(exc, RoleNameTaken):
        return {"name": exc.message}
    if isinstance(exc, CannotGrant):
        missing = ", ".join((exc.details or {}).get("missing_permissions", []))
        return {"permissions": exc.message + (f" ({missing})" if missing else "")}
    assert isinstance(exc, UnknownPermission | BuiltinRoleReadOnly)
    return {"permissions" if isinstance(exc, UnknownPermission) else "__all__": exc.message}


@router.get("/roles")
async def roles(page: RolesPage) -> Response:
    """The built-in roles, then the custom roles by name."""
    return await _roles_page(page)


@router.get("/roles/new")
async def new_role_form(page: RolesPage) -> Response:
    """The permission editor for a new custom role."""
    return _role_form(page, None, {"permissions": []}, {})


@router.post("/roles")
async def create_role(page: RolesPage, request: Request) -> Response:
    """Create a custom role (as `POST /api/v1/roles`)."""
    values = _posted(await request.form())
    try:
        body = RoleCreate.model_validate(values)
    except ValidationError as exc:
        return _role_form(page, None, values, errors_by_field(exc), status=422)
    if not await claim_submission(request, scope=str(page.tenant.id)):
        return redirect("/roles")  # the same form again: the first one created the role
    try:
        role = await role_service.create_role(page.session, page.user, body)
    except (RoleNameTaken, CannotGrant, UnknownPermission) as exc:
        await release_submission(request, scope=str(page.tenant.id))
        return _role_form(page, None, values, _refusal_errors(exc), status=exc.status_code)
    return redirect("/roles", notice=f"The role {role.name} is created.", settings=page.settings)


@router.get("/roles/{role_id}")
async def role_form(page: RolesPage, role_id: uuid.UUID) -> Response:
    """A role in the permission editor (read-only for a built-in role)."""
    role = await role_service.get_role(page.session, role_id)
    values = {
        "name": role.name,
        "description": role.description,
        "permissions": sorted(p.value for p in grants(role)),
    }
    return _role_form(page, role, values, {})


@router.post("/roles/{role_id}")
async def update_role(page: RolesPage, role_id: uuid.UUID, request: Request) -> Response:
    """Save a custom role (as `PATCH /api/v1/roles/{id}`); its members get the change at once."""
    role = await role_service.get_role(page.session, role_id)  # 404 before reading the form
    values = _posted(await request.form())
    if role.builtin:
        return _role_form(page, role, values, _refusal_errors(BuiltinRoleReadOnly()), status=409)
    try:
        body = RoleUpdate.model_validate(values)
    except ValidationError as exc:
        return _role_form(page, role, values, errors_by_field(exc), status=422)
    try:
        saved = await role_service.update_role(page.session, page.user, role_id, body)
    except (RoleNameTaken, CannotGrant, UnknownPermission, BuiltinRoleReadOnly) as exc:
        return _role_form(page, role, values, _refusal_errors(exc), status=exc.status_code)
    return redirect("/roles", notice=f"The role {saved.name} is saved.", settings=page.settings)


@router.post("/roles/{role_id}/delete")
async def delete_role(page: RolesPage, role_id: uuid.UUID) -> Response:
    """Delete a custom role nobody has (as `DELETE /api/v1/roles/{id}`)."""
    role = await role_service.get_role(page.session, role_id)
    name = role.name
    try:
        await role_service.delete_role(page.session, page.user, role_id)
    except (BuiltinRoleReadOnly, RoleInUse, CannotGrant) as exc:
        message = f"The role {name} was not deleted: {exc.message}"
        return await _roles_page(page, problem=message, status=exc.status_code)
    return redirect("/roles", notice=f"The role {name} is deleted.", settings=page.settings)
