"""Sign-in, sessions, passwords and email verification for a tenant's users. Services never commit."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from billing import seats as billing_seats
from billing.dependencies import check_seats
from platform_core.access import repository as access_repository
from platform_core.access.actor import Actor, ActorType
from platform_core.access.models import LinkPurpose, User
from platform_core.access.permissions import builtin_role_id
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.auth import links, sessions
from platform_core.auth.exceptions import EmailNotVerified, InvalidCredentials, SignupClosed, WrongPassword
from platform_core.auth.sessions import Client, TokenPair
from platform_core.auth.throttle import Throttle
from platform_core.kernel import events
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.security.passwords import hash_password_async, needs_rehash, verify_password_async
from platform_core.kernel.security.tokens import SigningKeys
from platform_core.kernel.settings import Settings
from platform_core.tenant_settings import service as tenant_settings_service
from platform_core.users import repository as user_repository
from workers.email.tasks import send_email_later_async


@dataclass(frozen=True, slots=True)
class AuthScope:
    """Everything the auth service needs to know about the request's tenant and client."""

    settings: Settings
    keys: SigningKeys
    tenant: TenantContext
    client: Client
    throttle: Throttle

    @property
    def throttle_scope(self) -> str:
        """Throttle counters are per tenant: the same email is a different account elsewhere."""
        return str(self.tenant.id)


async def _anonymous_attempt(
    session: AsyncSession,
    scope: AuthScope,
    action: AuditAction,
    email: str,
    user: User | None,
    details: dict[str, Any] | None = None,
) -> None:
    """Audit something an anonymous caller tried with an email address (and the account it names)."""
    await audit.record(
        session,
        action,
        Actor(ActorType.ANONYMOUS, ip=scope.client.ip, label=email),
        target_type="user" if user else None,
        target_id=user.id if user else None,
        details=details,
    )


async def sign_in(session: AsyncSession, scope: AuthScope, *, email: str, password: str) -> TokenPair:
    """Check a password and open a session; the same time and answer for unknown emails."""
    email = user_repository.normalize_email(email)
    await scope.throttle.sign_in_attempt(scope=scope.throttle_scope, ip=scope.client.ip, account=email)
    user = await user_repository.get_by_email(session, email=email)
    valid = await verify_password_async(user.password_hash if user else None, password)
    if user is None or not valid or not user.is_active:
        await _anonymous_attempt(session, scope, AuditAction.SIGN_IN_FAILED, email, user)
        raise InvalidCredentials
    if user.email_verified_at is None:
        reason = {"reason": "email_not_verified"}
        await _anonymous_attempt(session, scope, AuditAction.SIGN_IN_FAILED, email, user, reason)
        raise EmailNotVerified
    await scope.throttle.sign_in_succeeded(scope=scope.throttle_scope, account=email)
    if user.password_hash and needs_rehash(user.password_hash):
        user.password_hash = await hash_password_async(password)
    user.last_login_at = utcnow()
    pair = await sessions.open_session(session, scope.settings, scope.keys, scope.tenant, user, scope.client)
    await audit.record(
        session,
        AuditAction.SIGN_IN,
        _user_actor(user, scope.client),
        target_type="session",
        target_id=pair.session_id,
    )
    return pair


async def refresh(session: AsyncSession, scope: AuthScope, *, refresh_token: str) -> TokenPair:
    """Rotate a refresh token into a new pair; a reused token revokes its family (caller commits)."""
    try:
        row = await sessions.rotate(session, refresh_token, scope.tenant.id)
    except sessions.RefreshTokenReused as exc:
        await audit.record(
            session,
            AuditAction.REFRESH_REUSE,
            Actor(ActorType.ANONYMOUS, ip=scope.client.ip),
            target_type="session",
            target_id=(exc.details or {}).get("session_id"),
        )
        raise
    user = await user_repository.get(session, user_id=row.user_id)
    if user is None or not user.is_active:
        raise sessions.InvalidRefreshToken
    return await sessions.open_session(
        session, scope.settings, scope.keys, scope.tenant, user, scope.client, family_id=row.family_id
    )


async def sign_out(session: AsyncSession, principal: Principal) -> None:
    """End the caller's session: its refresh tokens and access tokens stop working."""
    if principal.session_id is not None:
        await sessions.revoke_family(session, principal.tenant_id, principal.session_id)
    await audit.record(
        session, AuditAction.SIGN_OUT, principal.actor, target_type="session", target_id=principal.session_id
    )


async def sign_out_everywhere(session: AsyncSession, principal: Principal) -> None:
    """End every session of the caller, this one included: each device has to sign in again."""
    await sessions.revoke_user_sessions(session, principal.tenant_id, principal.user_id)
    await audit.record(
        session,
        AuditAction.SIGN_OUT_EVERYWHERE,
        principal.actor,
        target_type="user",
        target_id=principal.user_id,
    )


async def change_password(
    session: AsyncSession,
    principal: Principal,
    throttle: Throttle,
    *,
    current_password: str,
    new_password: str,
) -> None:
    """Change the caller's password and sign out every other session.

    Guesses of the current password count against the account like sign-in attempts, so a stolen
    access token cannot be used to find the password.
    """
    scope, account = str(principal.tenant_id), principal.email
    await throttle.sign_in_attempt(scope=scope, ip=principal.ip, account=account)
    user = await user_repository.get(session, user_id=principal.user_id, lock=True)
    if user is None or not await verify_password_async(user.password_hash, current_password):
        raise WrongPassword
    await throttle.sign_in_succeeded(scope=scope, account=account)
    user.password_hash = await hash_password_async(new_password)
    user.password_changed_at = utcnow()
    await sessions.revoke_user_sessions(session, principal.tenant_id, user.id, keep=principal.session_id)
    await audit.record(
        session, AuditAction.PASSWORD_CHANGED, principal.actor, target_type="user", target_id=user.id
    )


async def _link_requested(
    session: AsyncSession, scope: AuthScope, email: str, purpose: str, action: AuditAction
) -> User | None:
    """The work every request for an emailed link does, whether or not the account exists: the
    throttles (429 per IP; per account silently), the lookup and an audit entry, so that neither the
    answer nor the time tells who has an account. Returns the user when a link may be sent."""
    allowed = await scope.throttle.email_link_request(
        scope=scope.throttle_scope, ip=scope.client.ip, account=email, purpose=purpose
    )
    user = await user_repository.get_by_email(session, email=email)
    await _anonymous_attempt(session, scope, action, email, user, {"sent": bool(allowed and user)})
    return user if allowed else None


async def request_password_reset(session: AsyncSession, scope: AuthScope, *, email: str) -> None:
    """Email a reset link if the account exists; answer the same either way."""
    email = user_repository.normalize_email(email)
    user = await _link_requested(session, scope, email, "reset", AuditAction.PASSWORD_RESET_REQUESTED)
    if user is None or not user.is_active:
        return
    ttl = scope.settings.password_reset_ttl_hours
    token = await links.create_link_token(session, user, LinkPurpose.RESET_PASSWORD, ttl)
    await send_email_later_async(
        session,
        to=user.email,
        template="password_reset",
        context={"reset_url": _link(scope, "/reset-password", token), "expires_in_hours": ttl},
        tenant_id=scope.tenant.id,
    )


# The links whose token sets a password: a reset, and a new owner's first password.
PASSWORD_LINKS = frozenset({LinkPurpose.RESET_PASSWORD, LinkPurpose.SET_PASSWORD})


async def check_password_link(session: AsyncSession, *, token: str) -> User:
    """The user a reset or set-password link would set a password for, without spending it
    (InvalidLink or ExpiredLink when it cannot be used)."""
    return await links.check_link_token(session, token, PASSWORD_LINKS)


async def reset_password(session: AsyncSession, scope: AuthScope, *, token: str, password: str) -> User:
    """Set a new password from a reset (or first-password) link; every session is signed out."""
    new_hash = await hash_password_async(password)  # check the rules before spending the link
    user = await links.consume_link_token(session, token, PASSWORD_LINKS)
    user.password_hash = new_hash
    user.password_changed_at = utcnow()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()  # the link reached the inbox: the address is proven
    await sessions.revoke_user_sessions(session, scope.tenant.id, user.id)
    await audit.record(
        session,
        AuditAction.PASSWORD_RESET,
        _user_actor(user, scope.client),
        target_type="user",
        target_id=user.id,
    )
    return user


async def sign_up(
    session: AsyncSession, scope: AuthScope, *, email: str, password: str, full_name: str
) -> User | None:
    """Create a member account (role member) when the tenant allows sign-up; email a verification link.

    An address that already has an account gets nothing and the same answer (None here), so sign-up
    cannot be used to find out who has an account.
    """
    if not (await tenant_settings_service.get(session)).allow_signup:
        raise SignupClosed
    email = user_repository.normalize_email(email)
    password_hash = await hash_password_async(password)
    if await user_repository.get_by_email(session, email=email) is not None:
        return None
    await user_repository.lock_membership(session, tenant_id=scope.tenant.id)
    await check_seats(session, scope.tenant, await access_repository.seats_used(session))
    user = User(
        email=email,
        full_name=full_name.strip(),
        password_hash=password_hash,
        role_id=builtin_role_id("member"),
    )
    if not await user_repository.add_unless_email_taken(session, user=user):
        return None  # the address got an account meanwhile: the same answer as above
    await billing_seats.members_changed(session, scope.tenant)
    await send_verification(session, scope, user)
    await audit.record(
        session, AuditAction.SIGN_UP, _user_actor(user, scope.client), target_type="user", target_id=user.id
    )
    await events.record(
        session,
        "member.joined",
        events.MemberData(user_id=user.id, email=user.email, role="member"),
        tenant_id=scope.tenant.id,
    )
    return user


async def resend_verification(session: AsyncSession, scope: AuthScope, *, email: str) -> None:
    """Email a new verification link if the address has an unverified account; the same work and
    answer either way."""
    email = user_repository.normalize_email(email)
    user = await _link_requested(session, scope, email, "verify", AuditAction.VERIFICATION_REQUESTED)
    if user is not None and user.email_verified_at is None and user.password_hash is not None:
        await _send_verification_link(session, scope, user)


async def send_verification(session: AsyncSession, scope: AuthScope, user: User) -> bool:
    """Email a verification link (at most a few per hour per address); False when throttled."""
    if not await scope.throttle.email_link(scope=scope.throttle_scope, account=user.email, purpose="verify"):
        return False
    await _send_verification_link(session, scope, user)
    return True


async def _send_verification_link(session: AsyncSession, scope: AuthScope, user: User) -> None:
    ttl = scope.settings.email_verification_ttl_hours
    token = await links.create_link_token(session, user, LinkPurpose.VERIFY_EMAIL, ttl)
    await send_email_later_async(
        session,
        to=user.email,
        template="verify_email",
        context={"verify_url": _link(scope, "/verify-email", token), "expires_in_hours": ttl},
        tenant_id=scope.tenant.id,
    )


async def check_verification_link(session: AsyncSession, *, token: str) -> User:
    """The user a verification link would verify, without spending it (InvalidLink or ExpiredLink
    when it cannot be used)."""
    return await links.check_link_token(session, token, {LinkPurpose.VERIFY_EMAIL})


async def verify_email(session: AsyncSession, scope: AuthScope, *, token: str) -> User:
    """Mark the address of a verification link's user as verified; return the user with their role."""
    user = await links.consume_link_token(session, token, {LinkPurpose.VERIFY_EMAIL})
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        await audit.record(
            session,
            AuditAction.EMAIL_VERIFIED,
            _user_actor(user, scope.client),
            target_type="user",
            target_id=user.id,
        )
    return user


def _link(scope: AuthScope, path: str, token: str) -> str:
    return scope.settings.tenant_url(scope.tenant.slug, f"{path}?token={token}")


def _user_actor(user: User, client: Client) -> Actor:
    return Actor(ActorType.USER, user.id, user.email, client.ip)
