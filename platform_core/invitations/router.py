"""HTTP routes: invitations to join the tenant, and accepting one."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from billing.dependencies import SeatLimitReached
from platform_core.access.dependencies import PUBLIC, MembersManage, MembersRead
from platform_core.auth.dependencies import AuthScopeDep
from platform_core.auth.exceptions import ExpiredLink, InvalidLink
from platform_core.auth.schemas import TokenResponse
from platform_core.invitations import service as invitation_service
from platform_core.invitations.exceptions import AlreadyInvited, AlreadyMember, InvitationNotFound
from platform_core.invitations.schemas import (
    InvitationAccept,
    InvitationCreate,
    InvitationPage,
    InvitationRead,
    invitation_read,
)
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.security.passwords import InvalidPassword
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.members.exceptions import CannotGrant, UnknownRole

router = APIRouter(prefix="/api/v1/invitations", tags=["invitations"])


@router.post("", status_code=201, response_model=InvitationRead)
@raises(UnknownRole, AlreadyMember, AlreadyInvited, CannotGrant, SeatLimitReached)
async def create_invitation(
    principal: MembersManage, body: InvitationCreate, scope: AuthScopeDep, session: TenantSessionDep
) -> InvitationRead:
    """Invite an address with a role you may grant; the link is emailed."""
    invitation = await invitation_service.invite(
        session, scope, principal, email=body.email, role_name=body.role
    )
    return invitation_read(invitation)


@router.get("", response_model=InvitationPage)
async def list_invitations(
    principal: MembersRead,
    session: TenantSessionDep,
    paging: PageDep,
    include_closed: bool = False,
) -> InvitationPage:
    """List invitations, newest first (open ones only unless include_closed)."""
    rows, total = await invitation_service.list_invitations(
        session, open_only=not include_closed, paging=paging
    )
    return InvitationPage.of([invitation_read(i) for i in rows], total, paging)


@router.post("/accept", status_code=201, response_model=TokenResponse, dependencies=[PUBLIC])
@raises(InvalidLink, ExpiredLink, AlreadyMember, InvalidPassword)
async def accept_invitation(
    body: InvitationAccept, scope: AuthScopeDep, session: TenantSessionDep
) -> TokenResponse:
    """Accept an invitation with its emailed token: creates the account and signs it in."""
    _, pair = await invitation_service.accept(
        session, scope, token=body.token, password=body.password, full_name=body.full_name
    )
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.get("/{invitation_id}", response_model=InvitationRead)
@raises(InvitationNotFound)
async def get_invitation(
    principal: MembersRead, invitation_id: uuid.UUID, session: TenantSessionDep
) -> InvitationRead:
    """Get one invitation."""
    return invitation_read(await invitation_service.get_invitation(session, invitation_id))


@router.post("/{invitation_id}/resend", response_model=InvitationRead)
@raises(InvitationNotFound, CannotGrant, SeatLimitReached)
async def resend_invitation(
    principal: MembersManage, invitation_id: uuid.UUID, scope: AuthScopeDep, session: TenantSessionDep
) -> InvitationRead:
    """Email a fresh link for an open invitation (the previous link stops working)."""
    return invitation_read(await invitation_service.resend(session, scope, principal, invitation_id))


@router.delete("/{invitation_id}", status_code=204)
@raises(InvitationNotFound)
async def revoke_invitation(
    principal: MembersManage, invitation_id: uuid.UUID, session: TenantSessionDep
) -> Response:
    """Revoke an open invitation."""
    await invitation_service.revoke(session, principal, invitation_id)
    return Response(status_code=204)
