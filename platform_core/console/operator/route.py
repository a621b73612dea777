"""The operator console's route class: matched on the operator host only; its error pages and headers."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from platform_core.console import cookies
from platform_core.console.operator.pages import OPERATOR_CONSOLE_AUDIENCE
from platform_core.console.routing import ConsoleRoute, console_router
from platform_core.console.templating import add_page_headers, content_security_policy, render
from platform_core.console.tenant.pages import SignInRequired, redirect, sign_in_url
from platform_core.kernel.context import request_id_var
from platform_core.kernel.error_handlers import response_for
from platform_core.kernel.security.tokens import InvalidToken
from platform_core.kernel.settings import Settings
from platform_core.kernel.tenancy import HostKind

_TITLES = {
    400: "That request was not understood",
    403: "That is not allowed",
    404: "Not found",
    405: "That action is not available here",
    409: "That conflicts with the tenant's state",
    422: "Some values are not valid",
    429: "Too many attempts",
    503: "A service is unavailable",
}


async def operator_error_page(request: Request, exc: Exception) -> Response:
    """The page of a failed operator console request (a sign-in redirect when it needs a session)."""
    settings: Settings = request.app.state.settings
    if isinstance(exc, SignInRequired | InvalidToken):
        response: Response = redirect(sign_in_url(request))
        if cookies.SESSION_COOKIE in request.cookies:
            cookies.clear(response, settings, cookies.SESSION_COOKIE)
            cookies.set_notice(response, settings, "Your session has ended. Sign in again to continue.")
        return response
    if isinstance(exc, RequestValidationError):  # a malformed value in the path names nothing
        status, code, message = 404, "not_found", "Nothing exists at this address."
        headers: dict[str, str] = {}
    else:
        answer = await response_for(request, exc)  # the API's status, code and log line
        body = json.loads(bytes(answer.body))["error"]
        status, code, message = answer.status_code, body["code"], body["message"]
        headers = {k: v for k, v in answer.headers.items() if k.lower() == "retry-after"}
    context = {
        "status": status,
        "code": code,
        "title": _TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work"),
        "message": message if status < 500 or status == 503 else "An unexpected error occurred.",
        "request_id": request_id_var.get(),
    }
    response = render(request, "operator/error.html", context, status_code=status)
    response.headers.update(headers)
    return response


def finish_operator_page(request: Request, response: Response) -> None:
    """Apply the cookies the page decided on (a renewed or ended session) and the security headers."""
    state = request.app.state
    cookies.finish_with_session(
        request, response, state.settings, state.signing_keys, OPERATOR_CONSOLE_AUDIENCE
    )
    add_page_headers(response, content_security_policy())


class OperatorPageRoute(ConsoleRoute):
    """A page of the operator console, served on the operator host only."""

    host_kind = HostKind.OPERATOR

    async def failure_page(self, request: Request, exc: Exception) -> Response:
        """The operator console's page for `exc`."""
        return await operator_error_page(request, exc)

    def finish_page(self, request: Request, response: Response) -> None:
        """Cookies and security headers of an operator console page."""
        finish_operator_page(request, response)


def operator_router() -> APIRouter:
    """A router of operator console pages."""
    return console_router(OperatorPageRoute)
