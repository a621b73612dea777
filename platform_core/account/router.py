"""HTTP routes: the signed-in user's own account (/api/v1/users/me): profile, password, leaving."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from platform_core.access.dependencies import CurrentUser
from platform_core.account import service as account_service
from platform_core.account.schemas import MeUpdate
from platform_core.auth import service as auth_service
from platform_core.auth.exceptions import WrongPassword
from platform_core.auth.schemas import ChangePasswordRequest
from platform_core.auth.throttle import TooManyAttempts
from platform_core.kernel.errors import raises
from platform_core.kernel.security.passwords import InvalidPassword
from platform_core.kernel.tenancy import TenantDep, TenantSessionDep
from platform_core.members.exceptions import LastOwner
from platform_core.users.schemas import MeRead, me_read

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.get("/me", response_model=MeRead)
async def get_me(principal: CurrentUser, session: TenantSessionDep) -> MeRead:
    """The signed-in user's account, role and permissions."""
    return me_read(await account_service.get_account(session, principal))


@router.patch("/me", response_model=MeRead)
async def update_me(principal: CurrentUser, body: MeUpdate, session: TenantSessionDep) -> MeRead:
    """Change the signed-in user's profile."""
    return me_read(await account_service.update_profile(session, principal, full_name=body.full_name))


@router.post("/me/password", status_code=204)
@raises(WrongPassword, InvalidPassword, TooManyAttempts)
async def change_password(
    principal: CurrentUser, body: ChangePasswordRequest, request: Request, session: TenantSessionDep
) -> Response:
    """Change the password; every other session of the user is signed out."""
    await auth_service.change_password(
        session,
        principal,
        request.app.state.throttle,
        current_password=body.current_password,
        new_password=body.new_password,
    )
    return Response(status_code=204)


@router.delete("/me", status_code=204)
@raises(LastOwner)
async def leave(principal: CurrentUser, tenant: TenantDep, session: TenantSessionDep) -> Response:
    """Leave the workspace (the last owner cannot): the account is deleted."""
    await account_service.leave(session, principal, tenant)
    return Response(status_code=204)
