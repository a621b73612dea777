"""The tenant console's home page: the workspace, the user, and the billing state when it matters."""

from __future__ import annotations

from fastapi import Response

from platform_core.console.templating import render
from platform_core.console.tenant.billing_banner import billing_notice
from platform_core.console.tenant.pages import SignedInPage
from platform_core.console.tenant.route import tenant_router

router = tenant_router()


@router.get("/")
async def home(page: SignedInPage) -> Response:
    """Home: who is signed in where, and what the workspace's billing state means for them."""
    notice = await billing_notice(page)
    return render(page.request, "tenant/home.html", {"billing": notice})
