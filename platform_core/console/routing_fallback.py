"""The console's page for a path that nothing serves, on each kind of host that has a console.

It is the router's default (what runs when no route matches), not a route: so every route, one added
later included, is tried first, and a path some route serves with other methods keeps its 405. Paths of
the API and of the platform's own endpoints are left out, so they keep their JSON 404.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Match
from starlette.types import ASGIApp, Receive, Scope, Send

from platform_core.kernel.errors import NotFound

_NOT_CONSOLE = r"(?:api|webhooks|assets|docs)(?:/|$)|openapi\.json$|healthz$|readyz$|metrics$"
_PATH = re.compile(rf"^/(?!{_NOT_CONSOLE})(?P<path>.*)$")


class PageNotFound(NotFound):
    """No console page at this path."""

    code = "not_found"
    message = "Nothing exists at this address."


def confine_fallback(router: APIRouter) -> None:
    """Make the router's catch-all route (`/{path:path}`, its last) leave the API's paths alone."""
    route = router.routes[-1]
    if not isinstance(route, APIRoute) or route.path != "/{path:path}":
        raise TypeError("the fallback router's last route must be /{path:path}")
    route.path_regex = _PATH


def install_fallback(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Serve the routers' catch-all pages when no route of the app matches (else the app's 404)."""
    routes = [route for router in routers for route in router.routes]
    original: ASGIApp = app.router.default

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    scope.update(child_scope)
                    await route.handle(scope, receive, send)
                    return
        await original(scope, receive, send)

    app.router.default = default
