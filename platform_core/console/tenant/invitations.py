"""Invitations (`/members/invitations`, `/members/invite`) and the page their emailed link opens
(`/accept-invitation?token=`).

Listing needs members:read and inviting, resending and revoking members:manage, as
`/api/v1/invitations`; each goes through the invitations service (the role must be one the user may
grant, a seat must be free, an address is invited once).

Accepting: opening the link spends nothing (mail scanners fetch links); the page shows a form whose POST
carries the token in a hidden field, and no redirect carries it. A new address chooses a name and a
password: the account is created with the invitation's role and signed in to the console. An address
that already has an account here (it signed up after being invited) signs in with its password instead:
the account keeps its role, and the invitation is closed. A link that is unknown, spent, revoked or
expired opens a page that says which and what to do.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from billing.dependencies import SeatLimitReached
from platform_core.access.permissions import Permission
from platform_core.auth.dependencies import get_auth_scope
from platform_core.auth.exceptions import EmailNotVerified, ExpiredLink, InvalidCredentials, InvalidLink
from platform_core.auth.throttle import TooManyAttempts
from platform_core.console.forms import claim_submission, new_nonce, read_form, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.auth import open_browser_session
from platform_core.console.tenant.auth_links import PASSWORD_HINT, with_password_rule
from platform_core.console.tenant.lists import paging_of
from platform_core.console.tenant.members import all_roles, grantable
from platform_core.console.tenant.pages import TenantPage, VisitorPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.invitations import service as invitation_service
from platform_core.invitations.exceptions import AlreadyInvited, AlreadyMember
from platform_core.invitations.schemas import InvitationAccept, InvitationCreate, status_of
from platform_core.kernel.security.passwords import InvalidPassword
from platform_core.members.exceptions import CannotGrant, UnknownRole

router = tenant_router()

MembersReadPage = Annotated[TenantPage, Depends(permission_page(Permission.MEMBERS_READ))]
MembersManagePage = Annotated[TenantPage, Depends(permission_page(Permission.MEMBERS_MANAGE))]


# A refusal of the plan's seats, in the words of someone who manages members.
SEATS_TAKEN = (
    "Every seat of your plan is taken (members and pending invitations). "
    "Remove someone, revoke an invitation, or move to a larger plan."
)


class _ExistingAccountSignIn(BaseModel):
    """The accept page's form for an address that already has an account: the token and its password."""

    model_config = ConfigDict(extra="ignore")

    token: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)


# The list and the invite form


async def _invitations_page(
    page: TenantPage, number: str | None, problem: str | None = None, status: int = 200
) -> Response:
    paging = paging_of(number)
    rows, total = await invitation_service.list_invitations(page.session, open_only=True, paging=paging)
    context: dict[str, Any] = {
        "invitations": {"items": rows, "total": total, "page": paging.page, "page_size": paging.page_size},
        "status_of": status_of,
        "page_url": lambda n: f"/members/invitations?page={n}",
        "can_manage": page.can(Permission.MEMBERS_MANAGE),
        "problem": problem,
    }
    return render(page.request, "tenant/invitations.html", context, status_code=status)


@router.get("/members/invitations")
async def invitations(page: MembersReadPage) -> Response:
    """The open invitations (pending or expired), newest first."""
    return await _invitations_page(page, page.request.query_params.get("page"))


async def _invite_form(
    page: TenantPage, values: dict[str, Any], errors: dict[str, str], status: int = 200
) -> Response:
    roles = grantable(page, await all_roles(page))
    context = {
        "values": {"role": "member", **values},
        "errors": errors,
        "role_options": [(r.name, f"{r.name} — {r.description}" if r.description else r.name) for r in roles],
        "new_nonce": new_nonce(),
        "ttl_hours": page.settings.invitation_ttl_hours,
    }
    return render(page.request, "tenant/invite.html", context, status_code=status)


@router.get("/members/invite")
async def invite_form(page: MembersManagePage) -> Response:
    """The form to invite someone by email with a role."""
    return await _invite_form(page, {}, {})


@router.post("/members/invite")
async def invite(page: MembersManagePage, request: Request) -> Response:
    """Invite an address with a role (as `POST /api/v1/invitations`); the link is emailed."""
    form = await read_form(request, InvitationCreate)
    values = {"email": form.values.get("email", ""), "role": form.values.get("role", "")}
    if form.model is None:
        return await _invite_form(page, values, form.errors, status=422)
    tenant_scope = str(page.tenant.id)
    if not await claim_submission(request, scope=tenant_scope):
        return redirect("/members/invitations")  # the same form again: the first one sent the invitation
    scope = await get_auth_scope(request)
    try:
        invitation = await invitation_service.invite(
            page.session, scope, page.user, email=form.model.email, role_name=form.model.role
        )
    except (AlreadyMember, AlreadyInvited) as exc:
        await release_submission(request, scope=tenant_scope)
        return await _invite_form(page, values, {"email": exc.message}, status=exc.status_code)
    except (UnknownRole, CannotGrant) as exc:
        await release_submission(request, scope=tenant_scope)
        return await _invite_form(page, values, {"role": exc.message}, status=exc.status_code)
    except SeatLimitReached:
        await release_submission(request, scope=tenant_scope)
        return await _invite_form(page, values, {"__all__": SEATS_TAKEN}, status=402)
    notice = f"Invitation sent to {invitation.email} as {invitation.role.name}."
    return redirect("/members/invitations", notice=notice, settings=page.settings)


@router.post("/members/invitations/{invitation_id}/resend")
async def resend(page: MembersManagePage, invitation_id: uuid.UUID, request: Request) -> Response:
    """Email a fresh link (the previous one stops working), as `POST /api/v1/invitations/{id}/resend`."""
    scope = await get_auth_scope(request)
    try:
        invitation = await invitation_service.resend(page.session, scope, page.user, invitation_id)
    except (CannotGrant, SeatLimitReached) as exc:
        message = SEATS_TAKEN if isinstance(exc, SeatLimitReached) else exc.message
        return await _invitations_page(page, None, problem=message, status=exc.status_code)
    notice = f"A new invitation link was sent to {invitation.email}."
    return redirect("/members/invitations", notice=notice, settings=page.settings)


@router.post("/members/invitations/{invitation_id}/revoke")
async def revoke(page: MembersManagePage, invitation_id: uuid.UUID) -> Response:
    """Revoke an open invitation: its link stops working (as `DELETE /api/v1/invitations/{id}`)."""
    invitation = await invitation_service.get_invitation(page.session, invitation_id)
    await invitation_service.revoke(page.session, page.user, invitation_id)
    notice = f"The invitation of {invitation.email} is revoked."
    return redirect("/members/invitations", notice=notice, settings=page.settings)


# Accepting an invitation


def _no_referrer(response: Response) -> Response:
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _invitation_failed(page: TenantPage, exc: InvalidLink | ExpiredLink | None = None) -> Response:
    """The page of an invitation link that cannot be used, and what to do."""
    expired = isinstance(exc, ExpiredLink)
    context = {
        "heading": "This invitation has expired" if expired else "This invitation cannot be used",
        "expired": expired,
    }
    return _no_referrer(render(page.request, "tenant/invitation_invalid.html", context, status_code=400))


def _accept_form(
    page: TenantPage,
    *,
    token: str,
    email: str,
    role: str,
    has_account: bool,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    context = {
        "token": token,
        "email": email,
        "role": role,
        "has_account": has_account,
        "values": values or {},
        "errors": errors or {},
        "password_hint": PASSWORD_HINT,
    }
    return _no_referrer(render(page.request, "tenant/accept_invitation.html", context, status_code=status))


def _token_of(value: Any) -> str | None:
    """The token if it has the shape the API accepts, else None (an invalid link)."""
    if isinstance(value, str) and 1 <= len(value) <= 200:
        return value
    return None


@router.get("/accept-invitation")
async def accept_form(page: VisitorPage, token: str | None = None) -> Response:
    """The page of an emailed invitation: a form to create the account, or to sign in when the address
    already has one (opening the link spends nothing)."""
    valid = _token_of(token)
    if valid is None:
        return _invitation_failed(page)
    try:
        invitation, has_account = await invitation_service.check_link(page.session, token=valid)
    except (InvalidLink, ExpiredLink) as exc:
        return _invitation_failed(page, exc)
    return _accept_form(
        page, token=valid, email=invitation.email, role=invitation.role.name, has_account=has_account
    )


async def _again(page: TenantPage, token: str, **kwargs: Any) -> Response:
    """The accept page again (the token was valid a moment ago; it may have been spent since)."""
    try:
        invitation, has_account = await invitation_service.check_link(page.session, token=token)
    except (InvalidLink, ExpiredLink) as exc:
        return _invitation_failed(page, exc)
    return _accept_form(
        page,
        token=token,
        email=invitation.email,
        role=invitation.role.name,
        has_account=has_account,
        **kwargs,
    )


@router.post("/accept-invitation")
async def accept(page: VisitorPage, request: Request) -> Response:
    """Create the invited account with its name and password, then sign it in (as
    `POST /api/v1/invitations/accept`)."""
    form = await read_form(request, InvitationAccept)
    token = _token_of(form.values.get("token"))
    if token is None:
        return _invitation_failed(page)
    values = {"full_name": form.values.get("full_name", "")}
    if form.model is None:
        errors = with_password_rule(form.errors, form.values, "password")
        return await _again(page, token, values=values, errors=errors, status=422)
    scope = await get_auth_scope(request)
    try:
        _, pair = await invitation_service.accept(
            page.session, scope, token=token, password=form.model.password, full_name=form.model.full_name
        )
    except (InvalidLink, ExpiredLink) as exc:
        return _invitation_failed(page, exc)
    except InvalidPassword as exc:
        return await _again(page, token, values=values, errors={"password": exc.message}, status=422)
    except AlreadyMember:  # the address got an account since the page was opened: sign in with it
        message = "This address has an account here now: sign in with its password."
        return await _again(page, token, errors={"__all__": message}, status=409)
    response = redirect("/", notice=f"Welcome to {page.tenant.name}!", settings=page.settings)
    open_browser_session(page, response, pair)
    return _no_referrer(response)


@router.post("/accept-invitation/sign-in")
async def accept_with_account(page: VisitorPage, request: Request) -> Response:
    """Accept an invitation with the address's existing account: sign in with its password (the
    account keeps its role; the invitation is closed)."""
    form = await read_form(request, _ExistingAccountSignIn)
    token = _token_of(form.values.get("token"))
    if token is None:
        return _invitation_failed(page)
    if form.model is None:
        return await _again(page, token, errors=form.errors, status=422)
    scope = await get_auth_scope(request)
    try:
        pair = await invitation_service.accept_with_account(
            page.session, scope, token=token, password=form.model.password
        )
    except (InvalidLink, ExpiredLink) as exc:
        return _invitation_failed(page, exc)
    except (InvalidCredentials, EmailNotVerified) as exc:
        await page.session.commit()  # the failed attempt stays in the audit log
        return await _again(page, token, errors={"__all__": exc.message}, status=exc.status_code)
    except TooManyAttempts as exc:
        response = await _again(page, token, errors={"__all__": exc.message}, status=429)
        response.headers.update(exc.headers or {})
        return response
    notice = f"You are signed in to {page.tenant.name}. Your account keeps its role."
    response = redirect("/", notice=notice, settings=page.settings)
    open_browser_session(page, response, pair)
    return _no_referrer(response)
