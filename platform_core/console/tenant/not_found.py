"""The tenant console's page for paths that name nothing (after every other route)."""

from __future__ import annotations

from fastapi import Response

from platform_core.console.routing_fallback import PageNotFound, confine_fallback
from platform_core.console.tenant.pages import VisitorPage
from platform_core.console.tenant.route import tenant_router

router = tenant_router()


@router.get("/{path:path}")
async def page_not_found(page: VisitorPage, path: str) -> Response:
    """A 404 page (the sign-in page's look for a visitor, the console's for a signed-in user)."""
    raise PageNotFound


confine_fallback(router)
