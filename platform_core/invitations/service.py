"""Invitations: invite an address with a role, resend, revoke, accept (which creates the account)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from billing import seats as billing_seats
from billing.dependencies import check_seats
from platform_core.access import repository as access_repository
from platform_core.access.actor import Actor, ActorType
from platform_core.access.models import Invitation, User
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.auth import service as auth_service
from platform_core.auth import sessions
from platform_core.auth.exceptions import ExpiredLink, InvalidLink
from platform_core.auth.service import AuthScope
from platform_core.auth.sessions import TokenPair
from platform_core.invitations import repository as invitation_repository
from platform_core.invitations.exceptions import AlreadyInvited, AlreadyMember, InvitationNotFound
from platform_core.invitations.schemas import InvitationStatus, status_of
from platform_core.kernel import events
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.constraints import constraint_errors
from platform_core.kernel.paging import PageParams
from platform_core.kernel.security.passwords import hash_password_async
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.members.exceptions import UnknownRole
from platform_core.members.service import check_can_grant, grants
from platform_core.users import repository as user_repository
from workers.email.tasks import send_email_later_async


async def invite(
    session: AsyncSession, scope: AuthScope, principal: Principal, *, email: str, role_name: str
) -> Invitation:
    """Invite an address with a role the caller may grant; the invitation is emailed."""
    email = user_repository.normalize_email(email)
    role = await user_repository.get_role_by_name(session, name=role_name.strip())
    if role is None:
        raise UnknownRole(details={"role": role_name})
    check_can_grant(principal, grants(role))
    if await user_repository.get_by_email(session, email=email) is not None:
        raise AlreadyMember(details={"email": email})
    existing = await invitation_repository.get_open_for_email(session, email=email)
    if existing is not None:
        if status_of(existing) is not InvitationStatus.EXPIRED:
            raise AlreadyInvited(details={"email": email, "invitation_id": str(existing.id)})
        existing.revoked_at = utcnow()  # an expired invitation is closed by a new one
    await user_repository.lock_membership(session, tenant_id=scope.tenant.id)
    await check_seats(session, scope.tenant, await access_repository.seats_used(session))
    token = new_opaque_token()
    invitation = Invitation(
        id=uuid.uuid4(),
        email=email,
        role_id=role.id,
        invited_by_id=principal.user_id,
        token_hash=hash_opaque_token(token),
        expires_at=utcnow() + timedelta(hours=scope.settings.invitation_ttl_hours),
    )
    session.add(invitation)
    with constraint_errors(
        {
            # A concurrent invitation of the same address won the race; the role was deleted meanwhile.
            "uq_invitation_email_open": lambda: AlreadyInvited(details={"email": email}),
            "fk_invitation_role_id_role": lambda: UnknownRole(details={"role": role_name}),
        }
    ):
        await session.flush()
    await _send(session, scope, principal, invitation, role.name, token)
    await audit.record(
        session,
        AuditAction.INVITATION_CREATED,
        principal.actor,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": email, "role": role.name},
    )
    return await _loaded(session, invitation.id)


async def list_invitations(
    session: AsyncSession, *, open_only: bool, paging: PageParams
) -> tuple[Sequence[Invitation], int]:
    """One page of invitations and the total."""
    return await invitation_repository.list_page(session, open_only=open_only, paging=paging)


async def get_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation:
    """An invitation of this tenant; 404 otherwise."""
    invitation = await invitation_repository.get(session, invitation_id=invitation_id)
    if invitation is None:
        raise InvitationNotFound
    return invitation


async def _open_invitation(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation:
    invitation = await invitation_repository.get(session, invitation_id=invitation_id, lock=True)
    if invitation is None or status_of(invitation) in (InvitationStatus.ACCEPTED, InvitationStatus.REVOKED):
        raise InvitationNotFound
    return invitation


async def resend(
    session: AsyncSession, scope: AuthScope, principal: Principal, invitation_id: uuid.UUID
) -> Invitation:
    """Send a fresh link (the old one stops working) with a new expiry."""
    invitation = await _open_invitation(session, invitation_id)
    check_can_grant(principal, grants(invitation.role))
    if status_of(invitation) is InvitationStatus.EXPIRED:  # it held no seat: it takes one again
        await user_repository.lock_membership(session, tenant_id=scope.tenant.id)
        await check_seats(session, scope.tenant, await access_repository.seats_used(session))
    token = new_opaque_token()
    invitation.token_hash = hash_opaque_token(token)
    invitation.expires_at = utcnow() + timedelta(hours=scope.settings.invitation_ttl_hours)
    await _send(session, scope, principal, invitation, invitation.role.name, token)
    await audit.record(
        session,
        AuditAction.INVITATION_RESENT,
        principal.actor,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email},
    )
    return await _loaded(session, invitation.id)


async def revoke(session: AsyncSession, principal: Principal, invitation_id: uuid.UUID) -> None:
    """Revoke an open invitation: its link stops working."""
    invitation = await _open_invitation(session, invitation_id)
    invitation.revoked_at = utcnow()
    await audit.record(
        session,
        AuditAction.INVITATION_REVOKED,
        principal.actor,
        target_type="invitation",
        target_id=invitation.id,
        details={"email": invitation.email},
    )


async def _usable(session: AsyncSession, token: str) -> Invitation:
    """The open, unexpired invitation of a link's token (locked); InvalidLink or ExpiredLink otherwise."""
    invitation = await invitation_repository.get_by_token_hash(session, token_hash=hash_opaque_token(token))
    if invitation is None or invitation.accepted_at is not None or invitation.revoked_at is not None:
        raise InvalidLink
    if invitation.expires_at <= utcnow():
        raise ExpiredLink
    return invitation


async def check_link(session: AsyncSession, *, token: str) -> tuple[Invitation, bool]:
    """The invitation of an emailed link if it can still be accepted, and whether its address already has
    an account here. Spends nothing (mail scanners open links); InvalidLink or ExpiredLink otherwise."""
    invitation = await _usable(session, token)
    has_account = await user_repository.get_by_email(session, email=invitation.email) is not None
    return invitation, has_account


async def accept_with_account(
    session: AsyncSession, scope: AuthScope, *, token: str, password: str
) -> TokenPair:
    """Accept an invitation whose address already has an account here: the account signs in with its
    password (the sign-in's own checks, throttling and audit) and keeps its role; the invitation is
    closed, so its link stops working and it no longer holds a seat."""
    invitation = await _usable(session, token)
    pair = await auth_service.sign_in(session, scope, email=invitation.email, password=password)
    user = await user_repository.get_by_email(session, email=invitation.email)
    assert user is not None  # it just signed in
    invitation.accepted_at = utcnow()
    await audit.record(
        session,
        AuditAction.INVITATION_ACCEPTED,
        Actor(ActorType.USER, user.id, user.email, scope.client.ip),
        target_type="invitation",
        target_id=invitation.id,
        details={"role": user.role.name, "invited_role": invitation.role.name, "existing_account": True},
    )
    await billing_seats.members_changed(session, scope.tenant)
    return pair


async def accept(
    session: AsyncSession, scope: AuthScope, *, token: str, password: str, full_name: str
) -> tuple[User, TokenPair]:
    """Create the invited account with its password and sign it in."""
    password_hash = await hash_password_async(password)  # the rules are checked before the link is spent
    invitation = await _usable(session, token)
    if await user_repository.get_by_email(session, email=invitation.email) is not None:
        raise AlreadyMember(details={"email": invitation.email})
    now = utcnow()
    user = User(
        email=invitation.email,
        full_name=full_name.strip(),
        password_hash=password_hash,
        role_id=invitation.role_id,
        email_verified_at=now,  # the link reached the inbox
        password_changed_at=now,
        last_login_at=now,
    )
    session.add(user)
    invitation.accepted_at = now
    with constraint_errors(  # the address got an account meanwhile (another invitation, a sign-up)
        {"uq_user_account_email": lambda: AlreadyMember(details={"email": invitation.email})}
    ):
        await session.flush()
    await audit.record(
        session,
        AuditAction.INVITATION_ACCEPTED,
        Actor(ActorType.USER, user.id, user.email, scope.client.ip),
        target_type="invitation",
        target_id=invitation.id,
        details={"role": invitation.role.name},
    )
    await billing_seats.members_changed(session, scope.tenant)
    await events.record(
        session,
        "member.joined",
        events.MemberData(user_id=user.id, email=user.email, role=invitation.role.name),
        tenant_id=scope.tenant.id,
    )
    pair = await sessions.open_session(session, scope.settings, scope.keys, scope.tenant, user, scope.client)
    return user, pair


async def _send(
    session: AsyncSession,
    scope: AuthScope,
    principal: Principal,
    invitation: Invitation,
    role: str,
    token: str,
) -> None:
    await send_email_later_async(
        session,
        to=invitation.email,
        template="invitation",
        context={
            "tenant_name": scope.tenant.name or scope.tenant.slug,
            "inviter_name": principal.email,
            "role": role,
            "accept_url": scope.settings.tenant_url(scope.tenant.slug, f"/accept-invitation?token={token}"),
            "expires_in_hours": scope.settings.invitation_ttl_hours,
        },
        tenant_id=scope.tenant.id,
    )


async def _loaded(session: AsyncSession, invitation_id: uuid.UUID) -> Invitation:
    """The invitation as stored (server defaults included), with its role."""
    await session.flush()
    invitation = await invitation_repository.get(session, invitation_id=invitation_id, reload=True)
    assert invitation is not None
    return invitation
