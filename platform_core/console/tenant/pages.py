"""What every tenant console page depends on: the tenant, the signed-in user, the CSRF check, the nav.

`visitor_page` serves anyone (sign-in, emailed links); `signed_in_page` needs a browser session;
`permission_page(P)` also applies the API's own gate for P (`require(P)`: the permission, then the
billing policy), so a page allows exactly what the matching API route allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.dependencies import mark_gate, require
from platform_core.access.permissions import Permission
from platform_core.access.principal import SCOPE_KEY, Principal, client_ip, principal_from_access_token
from platform_core.console import cookies, csrf
from platform_core.kernel.context import TenantContext
from platform_core.kernel.errors import Unauthorized
from platform_core.kernel.security.tokens import InvalidToken
from platform_core.kernel.settings import Settings
from platform_core.kernel.tenancy import get_tenant, get_tenant_session

P = Permission


@dataclass(frozen=True, slots=True)
class NavLink:
    """One entry of the console's navigation, shown to those holding its permission."""

    href: str
    label: str
    permission: Permission | None = None


NAV: tuple[NavLink, ...] = (
    NavLink("/", "Home"),
    NavLink("/items", "Items", P.ITEMS_READ),
    NavLink("/uploads", "Files", P.UPLOADS_READ),
    NavLink("/reports", "Reports", P.JOBS_READ),
    NavLink("/chat", "Chat", P.CHAT_READ),
    NavLink("/members", "Members", P.MEMBERS_READ),
    NavLink("/roles", "Roles", P.ROLES_MANAGE),
    NavLink("/api-keys", "API keys", P.API_KEYS_MANAGE),
    NavLink("/settings/billing", "Billing", P.BILLING_READ),
    NavLink("/webhooks", "Webhooks", P.WEBHOOKS_MANAGE),
    NavLink("/audit", "Audit log", P.AUDIT_READ),
    NavLink("/settings", "Settings", P.TENANT_SETTINGS),
)


def current_nav(links: list[NavLink], path: str) -> str | None:
    """The href of the link the page at `path` belongs to: the longest that matches it."""
    matches = [
        link.href for link in links if path == link.href or path.startswith(link.href.rstrip("/") + "/")
    ]
    return max(matches, key=len, default=None)


def visible_nav(principal: Principal | None) -> list[NavLink]:
    """The navigation a user sees: the links their permissions open."""
    if principal is None:
        return []
    return [link for link in NAV if link.permission is None or principal.can(link.permission)]


class SignInRequired(Unauthorized):
    """The page needs a signed-in user: the browser is sent to the sign-in page."""

    code = "sign_in_required"
    message = "Sign in to continue."


def console_audience(tenant_id: uuid.UUID) -> str:
    """The audience of the tenant console's session tokens (never accepted by the API)."""
    return f"console:{tenant_id}"


@dataclass(frozen=True, slots=True)
class TenantPage:
    """A tenant console request: the tenant, its session (bound to the tenant's schema), the user."""

    request: Request
    tenant: TenantContext
    session: AsyncSession
    principal: Principal | None

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        settings: Settings = self.request.app.state.settings
        return settings

    @property
    def user(self) -> Principal:
        """The signed-in user (pages behind `signed_in_page` always have one)."""
        if self.principal is None:
            raise SignInRequired
        return self.principal

    def can(self, permission: Permission) -> bool:
        """Whether the signed-in user holds `permission`."""
        return self.principal is not None and self.principal.can(permission)


async def _principal(request: Request, session: AsyncSession, tenant: TenantContext) -> Principal | None:
    settings: Settings = request.app.state.settings
    audience = console_audience(tenant.id)
    browser = cookies.read_session(request, request.app.state.signing_keys, audience)
    if browser is None:
        if cookies.SESSION_COOKIE in request.cookies:
            request.state.session_ended = True
        return None
    try:
        principal = await principal_from_access_token(
            session,
            request.app.state.signing_keys,
            tenant,
            request.cookies[cookies.SESSION_COOKIE],
            ip=client_ip(request),
            audience=audience,
        )
    except InvalidToken:
        request.state.session_ended = True  # signed out elsewhere, or the member was removed
        return None
    if cookies.needs_renewal(browser, settings):
        request.state.renew_session = browser
    return principal


async def _page(request: Request) -> TenantPage:
    tenant = await get_tenant(request)
    session = await get_tenant_session(request)
    principal = await _principal(request, session, tenant)
    settings: Settings = request.app.state.settings
    if principal is not None:
        request.scope[SCOPE_KEY] = principal  # the API's gates reuse it
        binding = str(principal.session_id)
    else:
        binding = cookies.visitor_id(request)
    request.state.page_context = {
        "tenant": tenant,
        "principal": principal,
        "csrf_token": csrf.token_for(settings, binding),
        "nav": (nav := visible_nav(principal)),
        "nav_current": current_nav(nav, request.url.path),
        "notice": cookies.read_notice(request) if request.method == "GET" else None,
        "path": request.url.path,
    }
    await csrf.verify(request, settings, binding)
    return TenantPage(request, tenant, session, principal)


async def visitor_page(request: Request) -> TenantPage:
    """A page anyone may open (signed in or not)."""
    return await _page(request)


async def signed_in_page(request: Request) -> TenantPage:
    """A page for a signed-in user; others are sent to sign in and brought back."""
    page = await _page(request)
    if page.principal is None:
        raise SignInRequired
    return page


def permission_page(permission: Permission) -> Callable[[Request], Awaitable[TenantPage]]:
    """A page for a signed-in user holding `permission`, through the API's own gate for it."""
    gate = require(permission)

    async def dependency(request: Request) -> TenantPage:
        page = await signed_in_page(request)
        await gate(request)
        return page

    dependency.__name__ = f"page_{permission.name.lower()}"
    mark_gate(dependency, f"page:{permission.value}")
    return dependency


mark_gate(visitor_page, "public")
mark_gate(signed_in_page, "user")

VisitorPage = Annotated[TenantPage, Depends(visitor_page)]
SignedInPage = Annotated[TenantPage, Depends(signed_in_page)]


def redirect(url: str, *, notice: str | None = None, settings: Settings | None = None) -> RedirectResponse:
    """A 303 to `url` (after a form), with a notice for the next page."""
    response = RedirectResponse(url, status_code=303)
    if notice and settings is not None:
        cookies.set_notice(response, settings, notice)
    return response


def safe_next(target: str | None, default: str = "/") -> str:
    """A path on this host to return to after signing in (anything else, such as an absolute URL,
    is `default`)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\n" in target:
        return default
    return target


def sign_in_url(request: Request) -> str:
    """The sign-in page, remembering where the user was (the page itself, or the form's page)."""
    if request.method == "GET":
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    else:
        here = request.url.path
    return f"/sign-in?next={quote(here, safe='/')}"
