"""The operator console's page for paths that name nothing (after every other route)."""

from __future__ import annotations

from fastapi import Response

from platform_core.console.operator.pages import OperatorVisitorPage
from platform_core.console.operator.route import operator_router
from platform_core.console.routing_fallback import PageNotFound, confine_fallback

router = operator_router()


@router.get("/{path:path}")
async def operator_page_not_found(page: OperatorVisitorPage, path: str) -> Response:
    """A 404 page on the operator host."""
    raise PageNotFound


confine_fallback(router)
