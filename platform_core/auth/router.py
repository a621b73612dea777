"""Sign-in endpoints on a tenant's host: tokens, refresh, sign-out, sign-up, emailed links."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Response
from sqlalchemy.ext.asyncio import AsyncSession

from billing.dependencies import SeatLimitReached
from platform_core.access.dependencies import PUBLIC, CurrentUser
from platform_core.auth import service as auth_service
from platform_core.auth.dependencies import SIGN_IN_BODY, AuthScopeDep, SignInCredentials
from platform_core.auth.exceptions import (
    EmailNotVerified,
    ExpiredLink,
    InvalidCredentials,
    InvalidLink,
    InvalidRefreshToken,
    SignupClosed,
)
from platform_core.auth.schemas import (
    Accepted,
    EmailRequest,
    RefreshRequest,
    ResetPasswordRequest,
    SignUpRequest,
    TokenRequest,
    TokenResponse,
)
from platform_core.auth.sessions import RefreshTokenReused, TokenPair
from platform_core.auth.throttle import TooManyAttempts
from platform_core.kernel.errors import AppError, raises
from platform_core.kernel.security.passwords import InvalidPassword
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.users.schemas import MeRead, me_read

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


@asynccontextmanager
async def kept_on_refusal(session: AsyncSession, *refusals: type[AppError]) -> AsyncIterator[None]:
    """Commit the request's work although it answers with one of `refusals`, then let the error go on.

    The unit of work rolls back on every 4xx; a failed sign-in (its audit entry) and a reused refresh
    token (its revoked session) must outlive their 401. These two routes are the only ones that commit.
    """
    try:
        yield
    except refusals:
        await session.commit()
        raise


def _token_response(pair: TokenPair) -> TokenResponse:
    return TokenResponse(
        access_token=pair.access_token, expires_in=pair.expires_in, refresh_token=pair.refresh_token
    )


@router.post("/token", response_model=TokenResponse, dependencies=[PUBLIC], openapi_extra=SIGN_IN_BODY)
@raises(InvalidCredentials, EmailNotVerified, TooManyAttempts)
async def issue_token(
    scope: AuthScopeDep, credentials: SignInCredentials, session: TenantSessionDep
) -> TokenResponse:
    """Sign in with email and password (OAuth2 password form or JSON); returns a token pair."""
    async with kept_on_refusal(session, InvalidCredentials, EmailNotVerified):  # the failure is audited
        pair = await auth_service.sign_in(
            session, scope, email=credentials.email, password=credentials.password
        )
    return _token_response(pair)


@router.post("/refresh", response_model=TokenResponse, dependencies=[PUBLIC])
@raises(InvalidRefreshToken, RefreshTokenReused)
async def refresh_token(
    body: RefreshRequest, scope: AuthScopeDep, session: TenantSessionDep
) -> TokenResponse:
    """Trade a refresh token for a new pair; a token works once, and reusing one signs its session out."""
    async with kept_on_refusal(session, RefreshTokenReused):  # the session stays revoked
        pair = await auth_service.refresh(session, scope, refresh_token=body.refresh_token)
    return _token_response(pair)


@router.post("/logout", status_code=204)
async def sign_out(principal: CurrentUser, session: TenantSessionDep) -> Response:
    """Sign out: the session's refresh and access tokens stop working."""
    await auth_service.sign_out(session, principal)
    return Response(status_code=204)


@router.post("/logout-all", status_code=204)
async def sign_out_everywhere(principal: CurrentUser, session: TenantSessionDep) -> Response:
    """Sign out everywhere: every session of the user ends, this one included."""
    await auth_service.sign_out_everywhere(session, principal)
    return Response(status_code=204)


@router.post("/signup", status_code=202, response_model=Accepted, dependencies=[PUBLIC])
@raises(SignupClosed, SeatLimitReached, InvalidPassword, TooManyAttempts)
async def sign_up(body: SignUpRequest, scope: AuthScopeDep, session: TenantSessionDep) -> Accepted:
    """Create an account when the workspace allows sign-up; the address must then be verified.

    The answer is the same whether or not the address already has an account.
    """
    await auth_service.sign_up(
        session, scope, email=body.email, password=body.password, full_name=body.full_name
    )
    return Accepted(detail="Check your inbox: follow the link we sent to finish signing up.")


@router.post("/verify-email", response_model=MeRead, dependencies=[PUBLIC])
@raises(InvalidLink, ExpiredLink)
async def verify_email(body: TokenRequest, scope: AuthScopeDep, session: TenantSessionDep) -> MeRead:
    """Confirm an email address with the token of a verification link."""
    return me_read(await auth_service.verify_email(session, scope, token=body.token))


@router.post("/resend-verification", status_code=202, response_model=Accepted, dependencies=[PUBLIC])
@raises(TooManyAttempts)
async def resend_verification(body: EmailRequest, scope: AuthScopeDep, session: TenantSessionDep) -> Accepted:
    """Email a new verification link if the address has an unverified account (same answer otherwise)."""
    await auth_service.resend_verification(session, scope, email=body.email)
    return Accepted(detail="If that address has an unverified account, a new link is on its way.")


@router.post("/forgot-password", status_code=202, response_model=Accepted, dependencies=[PUBLIC])
@raises(TooManyAttempts)
async def forgot_password(body: EmailRequest, scope: AuthScopeDep, session: TenantSessionDep) -> Accepted:
    """Email a password-reset link if the account exists (the answer is the same either way)."""
    await auth_service.request_password_reset(session, scope, email=body.email)
    return Accepted(detail="If that address has an account, a reset link is on its way.")


@router.post("/reset-password", status_code=204, dependencies=[PUBLIC])
@raises(InvalidLink, ExpiredLink, InvalidPassword)
async def reset_password(
    body: ResetPasswordRequest, scope: AuthScopeDep, session: TenantSessionDep
) -> Response:
    """Choose a new password with the token of a reset or set-password link; all sessions end."""
    await auth_service.reset_password(session, scope, token=body.token, password=body.password)
    return Response(status_code=204)
