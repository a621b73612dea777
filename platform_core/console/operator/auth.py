"""Signing in to and out of the operator console, and its home."""

from __future__ import annotations

from fastapi import Request, Response

from platform_core.auth.schemas import SignInRequest
from platform_core.auth.throttle import TooManyAttempts
from platform_core.console import cookies
from platform_core.console.forms import read_form
from platform_core.console.operator.pages import (
    OperatorPage,
    OperatorVisitorPage,
    SignedInOperatorPage,
    open_session,
)
from platform_core.console.operator.route import operator_router
from platform_core.console.templating import render
from platform_core.console.tenant.pages import redirect, safe_next
from platform_core.operators import service as operator_service
from platform_core.operators.exceptions import OperatorInvalidCredentials

router = operator_router()
HOME = "/tenants"


def _sign_in_page(
    page: OperatorPage, values: dict[str, str], errors: dict[str, str], next_url: str, status: int = 200
) -> Response:
    context = {"values": values, "errors": errors, "next": next_url}
    return render(page.request, "operator/sign_in.html", context, status_code=status)


@router.get("/")
async def operator_home(page: SignedInOperatorPage) -> Response:
    """The console's home is the tenants list."""
    return redirect(HOME)


@router.get("/sign-in")
async def operator_sign_in_form(page: OperatorVisitorPage, next: str | None = None) -> Response:
    """The operator sign-in page (a signed-in operator goes straight on)."""
    target = safe_next(next, HOME)
    if page.operator is not None:
        return redirect(target)
    return _sign_in_page(page, {}, {}, target)


@router.post("/sign-in")
async def operator_sign_in(page: OperatorVisitorPage, request: Request) -> Response:
    """Check the operator's email and password (throttled as the operator API's sign-in) and open a
    console session."""
    form = await read_form(request, SignInRequest)
    target = safe_next(form.values.get("next"), HOME)
    values = {"email": form.values.get("email", "")}
    if form.model is None:
        return _sign_in_page(page, values, form.errors, target, status=422)
    try:
        operator = await operator_service.check_credentials(
            page.session, page.scope, email=form.model.email, password=form.model.password
        )
    except OperatorInvalidCredentials as exc:
        return _sign_in_page(page, values, {"__all__": exc.message}, target, status=exc.status_code)
    except TooManyAttempts as exc:
        response = _sign_in_page(page, values, {"__all__": exc.message}, target, status=429)
        response.headers.update(exc.headers or {})
        return response
    response = redirect(target)
    open_session(response, request, operator)
    return response


@router.post("/sign-out")
async def operator_sign_out(page: SignedInOperatorPage) -> Response:
    """Sign out: every console session of this operator ends (their session generation moves on)."""
    await operator_service.end_console_sessions(page.session, page.signed_in.id)
    response = redirect("/sign-in", notice="You are signed out.", settings=page.settings)
    cookies.clear(response, page.settings, cookies.SESSION_COOKIE)
    return response
