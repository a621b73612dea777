"""The tenant console's route class: its host kind, its error pages and the headers of its pages."""

from __future__ import annotations

import json
import logging

from fastapi import APIRouter, Request, Response
from fastapi.exceptions import RequestValidationError

from billing.settings import get_billing_settings
from platform_core.access.principal import InvalidApiKey, NotAuthenticated
from platform_core.console import cookies
from platform_core.console.routing import ConsoleRoute, console_router
from platform_core.console.templating import add_page_headers, content_security_policy, origin_of, render
from platform_core.console.tenant.pages import SignInRequired, console_audience, redirect, sign_in_url
from platform_core.kernel.context import request_id_var
from platform_core.kernel.error_handlers import response_for
from platform_core.kernel.security.tokens import InvalidToken
from platform_core.kernel.settings import Settings
from platform_core.kernel.tenancy import HostKind
from platform_core.uploads.settings import get_s3_settings

logger = logging.getLogger("platform.console")

# What a page says for each outcome, beside the status: a title and what to do next.
_TITLES = {
    400: "That request was not understood",
    402: "Your plan does not allow this",
    403: "You cannot open this page",
    404: "Page not found",
    405: "That action is not available here",
    409: "That conflicts with something that exists",
    410: "This workspace has been deleted",
    413: "That is too large",
    422: "Some values are not valid",
    429: "Too many attempts",
    503: "A service is unavailable",
}


async def tenant_error_page(request: Request, exc: Exception) -> Response:
    """The page of a failed tenant console request (a sign-in redirect when it needs a session)."""
    settings: Settings = request.app.state.settings
    if isinstance(exc, SignInRequired | NotAuthenticated | InvalidToken | InvalidApiKey):
        response: Response = redirect(sign_in_url(request))
        if cookies.SESSION_COOKIE in request.cookies:
            cookies.clear(response, settings, cookies.SESSION_COOKIE)
            cookies.set_notice(response, settings, "Your session has ended. Sign in again to continue.")
        return response
    if isinstance(exc, RequestValidationError):  # a malformed id in the path names nothing
        status, code, message = 404, "not_found", "Nothing exists at this address."
        headers: dict[str, str] = {}
    else:
        answer = await response_for(request, exc)
        body = json.loads(bytes(answer.body))["error"]
        status, code, message = answer.status_code, body["code"], body["message"]
        headers = {k: v for k, v in answer.headers.items() if k.lower() in ("retry-after",)}
    template = "tenant/suspended.html" if code == "tenant_suspended" else "error.html"
    context = {
        "status": status,
        "code": code,
        "title": _TITLES.get(status, "Something went wrong" if status >= 500 else "That did not work"),
        "message": message if status < 500 or status == 503 else "An unexpected error occurred.",
        "request_id": request_id_var.get(),
    }
    response = render(request, template, context, status_code=status)
    response.headers.update(headers)
    return response


def finish_tenant_page(request: Request, response: Response) -> None:
    """Apply what the page decided on (cookies) and the console's security headers."""
    state = request.app.state
    settings: Settings = state.settings
    tenant = request.scope.get("platform.tenant")
    audience = console_audience(tenant.id) if tenant is not None else None
    cookies.finish_with_session(request, response, settings, state.signing_keys, audience)
    add_page_headers(response, _policy(settings))


def _policy(settings: Settings) -> str:
    """The tenant console's CSP: uploads go straight to the object storage; checkout and the portal
    are Stripe's pages (a form's redirect there must be allowed)."""
    storage = origin_of(get_s3_settings().endpoint_url) or "https://*.amazonaws.com"
    billing = get_billing_settings()
    stripe = origin_of(billing.stripe_api_base) or "https://checkout.stripe.com https://billing.stripe.com"
    return content_security_policy(extra_connect=storage, extra_form_action=stripe)


class TenantPageRoute(ConsoleRoute):
    """A page of the tenant console."""

    host_kind = HostKind.TENANT

    async def failure_page(self, request: Request, exc: Exception) -> Response:
        """The tenant console's page for `exc`."""
        return await tenant_error_page(request, exc)

    def finish_page(self, request: Request, response: Response) -> None:
        """Cookies and security headers of a tenant console page."""
        finish_tenant_page(request, response)


def tenant_router() -> APIRouter:
    """A router of tenant console pages."""
    return console_router(TenantPageRoute)
