"""Signing in and out of the tenant console."""

from __future__ import annotations

from fastapi import Request, Response

from platform_core.auth import service as auth_service
from platform_core.auth.dependencies import get_auth_scope
from platform_core.auth.exceptions import EmailNotVerified, InvalidCredentials
from platform_core.auth.schemas import SignInRequest
from platform_core.auth.sessions import TokenPair
from platform_core.auth.throttle import TooManyAttempts
from platform_core.console import cookies
from platform_core.console.forms import read_form
from platform_core.console.templating import render
from platform_core.console.tenant.pages import (
    SignedInPage,
    TenantPage,
    VisitorPage,
    console_audience,
    redirect,
    safe_next,
)
from platform_core.console.tenant.route import tenant_router
from platform_core.tenant_settings import service as tenant_settings_service

router = tenant_router()


def open_browser_session(page: TenantPage, response: Response, pair: TokenPair) -> None:
    """Give the browser the console session of `pair` (an API session just opened by sign-in or by
    accepting an invitation): the session cookie, set on `response`."""
    cookies.set_session(
        response,
        page.settings,
        page.request.app.state.signing_keys,
        audience=console_audience(page.tenant.id),
        subject=str(pair.user_id),
        session_id=str(pair.session_id),
    )


async def _sign_in_page(
    page: TenantPage, values: dict[str, str], errors: dict[str, str], next_url: str, status: int = 200
) -> Response:
    allow_signup = (await tenant_settings_service.get(page.session)).allow_signup
    context = {"values": values, "errors": errors, "next": next_url, "allow_signup": allow_signup}
    return render(page.request, "tenant/sign_in.html", context, status_code=status)


@router.get("/sign-in")
async def sign_in_form(page: VisitorPage, next: str | None = None) -> Response:
    """The sign-in page (a signed-in user goes straight on)."""
    target = safe_next(next)
    if page.principal is not None:
        return redirect(target)
    return await _sign_in_page(page, {}, {}, target)


@router.post("/sign-in")
async def sign_in(page: VisitorPage, request: Request) -> Response:
    """Check the email and password, open a browser session and go on to where the user was going."""
    form = await read_form(request, SignInRequest)
    target = safe_next(form.values.get("next"))
    values = {"email": form.values.get("email", "")}
    if form.model is None:
        return await _sign_in_page(page, values, form.errors, target, status=422)
    scope = await get_auth_scope(request)
    try:
        pair = await auth_service.sign_in(
            page.session, scope, email=form.model.email, password=form.model.password
        )
    except (InvalidCredentials, EmailNotVerified) as exc:
        await page.session.commit()  # the failed attempt stays in the audit log
        return await _sign_in_page(page, values, {"__all__": exc.message}, target, status=exc.status_code)
    except TooManyAttempts as exc:
        response = await _sign_in_page(page, values, {"__all__": exc.message}, target, status=429)
        response.headers.update(exc.headers or {})
        return response
    response = redirect(target)
    open_browser_session(page, response, pair)
    return response


@router.post("/sign-out")
async def sign_out(page: SignedInPage) -> Response:
    """End this browser session (the same revocation as the API's sign-out)."""
    await auth_service.sign_out(page.session, page.user)
    response = redirect("/sign-in", notice="You are signed out.", settings=page.settings)
    cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
    return response
