"""Console routes: matched only on their kind of host, answered with HTML even when they fail.

The tenant console and the operator console share paths (`/`, `/sign-in`), so a console route matches
a request only on its own kind of host, which the Host header alone tells (the operator host and the
platform's names come from the settings; every other name is a tenant's, resolved by the page itself).
An exception becomes the page of its outcome: the same status, code and log line as the API's JSON,
and a page that says what to do next; a request that needs a sign-in is sent to the sign-in page.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable
from typing import Any, ClassVar

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, Match
from starlette.types import Scope

from platform_core.console.templating import TEMPLATES
from platform_core.kernel.settings import Environment, Settings
from platform_core.kernel.tenancy import HostKind

HOST_KIND_KEY = "platform.host_kind"


def host_kind_of_request(scope: Scope, settings: Settings) -> HostKind:
    """The kind of host a request names, from its Host header and the settings (no lookup)."""
    cached: HostKind | None = scope.get(HOST_KIND_KEY)
    if cached is not None:
        return cached
    host = ""
    for name, value in scope.get("headers", ()):
        if name == b"host":
            host = value.decode("latin-1").lower()
            break
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    base = settings.base_domain
    kind = HostKind.TENANT  # a tenant's subdomain or custom domain: the page resolves it
    if name == base:
        kind = HostKind.PLATFORM
    elif name.endswith(f".{base}"):
        sub = name[: -len(base) - 1]
        if sub == settings.operator_host:
            kind = HostKind.OPERATOR
        elif sub in settings.reserved:
            kind = HostKind.PLATFORM
    scope[HOST_KIND_KEY] = kind
    return kind


class ConsoleRoute(APIRoute):
    """A console page: matched on its kind of host only; its failures are pages, not JSON."""

    host_kind: ClassVar[HostKind]

    async def failure_page(self, request: Request, exc: Exception) -> Response:
        """The page of a request that raised `exc` (each console says how)."""
        raise NotImplementedError

    def finish_page(self, request: Request, response: Response) -> None:
        """Add what every page of this console carries (cookies it decided on, security headers)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        """Match as an API route does, but only on this console's kind of host."""
        if scope["type"] == "http":
            app = scope.get("app")
            settings = getattr(getattr(app, "state", None), "settings", None)
            if settings is not None and host_kind_of_request(scope, settings) is not self.host_kind:
                return Match.NONE, {}
        return super().matches(scope)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, with exceptions rendered as pages and the console's headers added."""
        handler = super().get_route_handler()

        async def page_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:
                response = await self.failure_page(request, exc)
            self.finish_page(request, response)
            return response

        return page_handler


def console_router(route_class: type[ConsoleRoute], **kwargs: Any) -> APIRouter:
    """A router of console pages (never in the OpenAPI documents)."""
    return APIRouter(route_class=route_class, include_in_schema=False, **kwargs)


def add_console_routes(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Append the console's routes to the app's, after the API's (whose paths never collide)."""
    settings: Settings = app.state.settings
    # Templates are read once per process, except in development, where an edited template shows at
    # the next request (checking each template's file on every render costs every page stat calls).
    TEMPLATES.auto_reload = settings.env is Environment.DEVELOPMENT
    routes: list[BaseRoute] = []
    for router in routers:
        for route in router.routes:
            if not isinstance(route, ConsoleRoute):
                raise TypeError(f"console routers hold console routes, not {type(route).__name__}")
            routes.append(route)
    app.router.routes.extend(routes)
