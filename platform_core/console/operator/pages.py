"""What every operator console page depends on: the operator host, the signed-in operator, CSRF, the nav.

The browser session is a signed cookie of the operator console's own audience (`console:operator`,
never accepted by the operator API nor by a tenant's console) naming the operator and the generation
of their console sessions it was opened in: signing out bumps the operator's generation, so every
console session of theirs ends at once, and a deactivated operator's sessions end with it. Each page
reads the operator from the database, so both take effect on the next request.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.dependencies import mark_gate
from platform_core.access.principal import client_ip
from platform_core.console import cookies, csrf
from platform_core.console.tenant.pages import NavLink, SignInRequired, current_nav
from platform_core.kernel.paging import MAX_PAGE
from platform_core.kernel.settings import Settings
from platform_core.kernel.tenancy import get_public_session
from platform_core.operators import service as operator_service
from platform_core.operators.models import Operator
from platform_core.operators.service import OperatorScope

OPERATOR_CONSOLE_AUDIENCE = "console:operator"

NAV: tuple[NavLink, ...] = (
    NavLink("/tenants", "Tenants"),
    NavLink("/fleet", "Migrations"),
    NavLink("/stripe-events", "Stripe events"),
    NavLink("/activity", "Activity"),
)


@dataclass(frozen=True, slots=True)
class OperatorPage:
    """An operator console request: its session on `public` (the request's unit of work), the operator."""

    request: Request
    session: AsyncSession
    operator: Operator | None

    @property
    def settings(self) -> Settings:
        """The app's settings."""
        settings: Settings = self.request.app.state.settings
        return settings

    @property
    def signed_in(self) -> Operator:
        """The signed-in operator (pages behind `operator_page` always have one)."""
        if self.operator is None:
            raise SignInRequired
        return self.operator

    @property
    def scope(self) -> OperatorScope:
        """What the operator services need to know about the request (as the operator API builds it)."""
        state = self.request.app.state
        return OperatorScope(
            settings=state.settings,
            keys=state.signing_keys,
            throttle=state.throttle,
            ip=client_ip(self.request),
        )


def page_number(raw: str | None) -> int:
    """A page number from the query string (anything odd is the first page)."""
    return int(raw) if raw and raw.isdigit() and 1 <= int(raw) <= MAX_PAGE else 1


def session_id_for(generation: int) -> str:
    """A new console session's id: the operator's session generation, and a random part."""
    return f"{generation}.{uuid.uuid4().hex}"


def generation_of(session_id: str) -> int | None:
    """The session generation a console session id was issued in (None for a malformed id)."""
    head, _, rest = session_id.partition(".")
    return int(head) if head.isdigit() and rest else None


def open_session(response: Response, request: Request, operator: Operator) -> None:
    """Set the operator console's session cookie for `operator`, in their current session generation."""
    cookies.set_session(
        response,
        request.app.state.settings,
        request.app.state.signing_keys,
        audience=OPERATOR_CONSOLE_AUDIENCE,
        subject=str(operator.id),
        session_id=session_id_for(operator.session_generation),
    )


async def _operator(request: Request, session: AsyncSession) -> Operator | None:
    settings: Settings = request.app.state.settings
    browser = cookies.read_session(request, request.app.state.signing_keys, OPERATOR_CONSOLE_AUDIENCE)
    if browser is None:
        if cookies.SESSION_COOKIE in request.cookies:
            request.state.session_ended = True
        return None
    generation = generation_of(browser.session_id)
    try:
        operator_id = uuid.UUID(browser.subject)
    except ValueError:
        operator_id = None
    operator = await operator_service.get_active_operator(session, operator_id) if operator_id else None
    if operator is None or generation != operator.session_generation:
        request.state.session_ended = True  # signed out (here or elsewhere), or deactivated
        return None
    request.state.console_session = browser
    if cookies.needs_renewal(browser, settings):
        request.state.renew_session = browser
    return operator


async def _page(request: Request) -> OperatorPage:
    session = await get_public_session(request)
    operator = await _operator(request, session)
    settings: Settings = request.app.state.settings
    browser = getattr(request.state, "console_session", None)
    binding = (
        browser.session_id if operator is not None and browser is not None else cookies.visitor_id(request)
    )
    nav = list(NAV) if operator is not None else []
    request.state.page_context = {
        "operator": operator,
        "brand": "Operator console",
        "csrf_token": csrf.token_for(settings, binding),
        "nav": nav,
        "nav_current": current_nav(nav, request.url.path),
        "notice": cookies.read_notice(request) if request.method == "GET" else None,
        "path": request.url.path,
    }
    await csrf.verify(request, settings, binding)
    return OperatorPage(request, session, operator)


async def operator_visitor_page(request: Request) -> OperatorPage:
    """A page of the operator host anyone may open (the sign-in page)."""
    return await _page(request)


async def operator_page(request: Request) -> OperatorPage:
    """A page for a signed-in operator; others are sent to sign in and brought back."""
    page = await _page(request)
    if page.operator is None:
        raise SignInRequired
    return page


mark_gate(operator_visitor_page, "public")
mark_gate(operator_page, "operator")

OperatorVisitorPage = Annotated[OperatorPage, Depends(operator_visitor_page)]
SignedInOperatorPage = Annotated[OperatorPage, Depends(operator_page)]
