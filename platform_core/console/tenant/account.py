"""The signed-in user's own account: name, password, signing out everywhere, leaving the workspace.

Each form goes through the same service as `/api/v1/users/me` and `/api/v1/auth/logout-all`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from platform_core.account import service as account_service
from platform_core.account.schemas import MeUpdate
from platform_core.auth import service as auth_service
from platform_core.auth.exceptions import WrongPassword
from platform_core.auth.schemas import ChangePasswordRequest
from platform_core.auth.throttle import TooManyAttempts
from platform_core.console import cookies
from platform_core.console.forms import read_form
from platform_core.console.templating import render
from platform_core.console.tenant.auth_links import with_password_rule
from platform_core.console.tenant.pages import SignedInPage, TenantPage, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.security.passwords import MAX_LENGTH, MIN_LENGTH, InvalidPassword
from platform_core.members.exceptions import LastOwner

router = tenant_router()

_NO_ERRORS: dict[str, Any] = {"values": {}, "errors": {}}


async def _account_page(
    page: TenantPage,
    *,
    profile: dict[str, Any] | None = None,
    password: dict[str, Any] | None = None,
    leave_error: str | None = None,
    status: int = 200,
) -> Response:
    """The account page; a form sent with errors shows them, with what was typed."""
    user = await account_service.get_account(page.session, page.user)
    context = {
        "account": user,
        "profile": profile or {"values": {"full_name": user.full_name}, "errors": {}},
        "password": password or _NO_ERRORS,
        "leave_error": leave_error,
        "password_hint": f"{MIN_LENGTH} to {MAX_LENGTH} characters.",
    }
    return render(page.request, "tenant/account.html", context, status_code=status)


@router.get("/account")
async def account(page: SignedInPage) -> Response:
    """The user's own account."""
    return await _account_page(page)


@router.post("/account/profile")
async def update_profile(page: SignedInPage, request: Request) -> Response:
    """Change the user's name."""
    form = await read_form(request, MeUpdate)
    if form.model is None:
        return await _account_page(page, profile={"values": form.values, "errors": form.errors}, status=422)
    await account_service.update_profile(page.session, page.user, full_name=form.model.full_name)
    return redirect("/account", notice="Your name is saved.", settings=page.settings)


@router.post("/account/password")
async def change_password(page: SignedInPage, request: Request) -> Response:
    """Change the password; the user's other sessions end, this one stays."""
    form = await read_form(request, ChangePasswordRequest)
    if form.model is None:
        errors = with_password_rule(form.errors, form.values, "new_password")
        return await _account_page(page, password={"values": {}, "errors": errors}, status=422)
    try:
        await auth_service.change_password(
            page.session,
            page.user,
            request.app.state.throttle,
            current_password=form.model.current_password,
            new_password=form.model.new_password,
        )
    except WrongPassword as exc:
        errors = {"current_password": exc.message}
        return await _account_page(page, password={"values": {}, "errors": errors}, status=exc.status_code)
    except InvalidPassword as exc:
        errors = {"new_password": exc.message}
        return await _account_page(page, password={"values": {}, "errors": errors}, status=422)
    except TooManyAttempts as exc:
        errors = {"__all__": exc.message}
        response = await _account_page(page, password={"values": {}, "errors": errors}, status=429)
        response.headers.update(exc.headers or {})
        return response
    notice = "Your password is changed. Your other sessions are signed out."
    return redirect("/account", notice=notice, settings=page.settings)


@router.post("/account/sign-out-everywhere")
async def sign_out_everywhere(page: SignedInPage) -> Response:
    """End every session of the user, this browser's too."""
    await auth_service.sign_out_everywhere(page.session, page.user)
    notice = "You are signed out everywhere: every browser and app has to sign in again."
    response = redirect("/sign-in", notice=notice, settings=page.settings)
    cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
    return response


@router.post("/account/leave")
async def leave(page: SignedInPage) -> Response:
    """Leave the workspace: the account is deleted (the last owner cannot)."""
    try:
        await account_service.leave(page.session, page.user, page.tenant)
    except LastOwner as exc:
        return await _account_page(page, leave_error=exc.message, status=exc.status_code)
    response = redirect("/sign-in", notice=f"You left {page.tenant.name}.", settings=page.settings)
    cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
    return response
