"""The workspace's members (`/members`): the list, changing a member's role, removing a member.

The list needs members:read and the changes members:manage, exactly as `/api/v1/members`; each change
goes through the members service, whose rules (nobody grants more than they hold, nobody changes a
member who holds more than they do, a workspace keeps an owner) come back as a message on the page.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response

from platform_core.access.models import Role
from platform_core.access.permissions import Permission
from platform_core.console import cookies
from platform_core.console.forms import read_form
from platform_core.console.templating import render
from platform_core.console.tenant.lists import paging_of
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.errors import AppError
from platform_core.kernel.paging import PageParams
from platform_core.members import service as member_service
from platform_core.members.exceptions import CannotGrant, LastOwner, MemberOutranksYou, UnknownRole
from platform_core.members.schemas import MemberUpdate
from platform_core.roles import service as role_service

router = tenant_router()

MembersReadPage = Annotated[TenantPage, Depends(permission_page(Permission.MEMBERS_READ))]
MembersManagePage = Annotated[TenantPage, Depends(permission_page(Permission.MEMBERS_MANAGE))]

# The service's refusals of a change, shown on the page with their status.
REFUSALS = (MemberOutranksYou, CannotGrant, LastOwner, UnknownRole)


async def all_roles(page: TenantPage) -> list[Role]:
    """Every role of the workspace (built-in first), for the role pickers."""
    roles, _ = await role_service.list_roles(page.session, PageParams(page=1, page_size=100))
    return roles


def grantable(page: TenantPage, roles: list[Role]) -> list[Role]:
    """The roles the user may hand out: those granting nothing the user lacks."""
    return [role for role in roles if member_service.grants(role) <= page.user.permissions]


async def _members_page(
    page: TenantPage, number: str | None, problem: str | None = None, status: int = 200
) -> Response:
    paging = paging_of(number)
    users, total, pending = await member_service.list_members_and_open_invitations(page.session, paging)
    can_manage = page.can(Permission.MEMBERS_MANAGE)
    # The picker's roles come from a per-process cache the role changes drop: no query per page.
    choices = await role_service.role_choices(page.session, page.tenant.id) if can_manage else []
    held = page.user.permissions
    context: dict[str, Any] = {
        "members": {"items": users, "total": total, "page": paging.page, "page_size": paging.page_size},
        "page_url": lambda n: f"/members?page={n}",
        "can_manage": can_manage,
        # Members the user may change or remove: nobody changes someone holding more than they do.
        "manageable": {u.id for u in users if member_service.grants(u.role) <= held},
        "role_options": [(c.name, c.name) for c in choices if c.permissions <= held],
        "role_names": {c.name for c in choices if c.permissions <= held},
        "me": page.user.user_id,
        "open_invitations": pending,
        "problem": problem,
    }
    return render(page.request, "tenant/members.html", context, status_code=status)


@router.get("/members")
async def members(page: MembersReadPage) -> Response:
    """The members, by email, a page at a time."""
    return await _members_page(page, page.request.query_params.get("page"))


@router.post("/members/{member_id}/role")
async def change_role(page: MembersManagePage, member_id: uuid.UUID, request: Request) -> Response:
    """Give a member another role (the same service and rules as `PATCH /api/v1/members/{id}`)."""
    member = await member_service.get_member(page.session, member_id)  # 404 before reading the form
    form = await read_form(request, MemberUpdate)
    if form.model is None:
        message = f"Choose a role for {member.email}: {form.errors.get('role', 'a role is needed')}"
        return await _members_page(page, None, problem=message, status=422)
    try:
        changed = await member_service.change_role(page.session, page.user, member_id, form.model.role)
    except REFUSALS as exc:
        return await _refused(page, f"The role of {member.email} is unchanged: ", exc)
    notice = f"{changed.email} is now {changed.role.name}."
    return redirect("/members", notice=notice, settings=page.settings)


@router.post("/members/{member_id}/remove")
async def remove_member(page: MembersManagePage, member_id: uuid.UUID) -> Response:
    """Remove a member (as `DELETE /api/v1/members/{id}`): their sessions and API keys end at once."""
    member = await member_service.get_member(page.session, member_id)
    email = member.email
    try:
        await member_service.remove(page.session, page.user, member_id, page.tenant)
    except REFUSALS as exc:
        return await _refused(page, f"{email} was not removed: ", exc)
    if member_id == page.user.user_id:  # removing oneself is leaving: this session ended with the account
        response = redirect("/sign-in", notice=f"You left {page.tenant.name}.", settings=page.settings)
        cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
        return response
    return redirect("/members", notice=f"{email} was removed.", settings=page.settings)


async def _refused(page: TenantPage, prefix: str, exc: AppError) -> Response:
    """The members page again with the service's reason (an error status: nothing of the request commits)."""
    return await _members_page(page, None, problem=prefix + exc.message, status=exc.status_code)
