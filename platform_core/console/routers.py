"""Every console router, in matching order (the app factory adds them after the API's routes)."""

from __future__ import annotations

from fastapi import APIRouter

from platform_core.console.tenant import account as tenant_account
from platform_core.console.tenant import auth as tenant_auth
from platform_core.console.tenant import auth_links as tenant_auth_links
from platform_core.console.tenant import billing as tenant_billing
from platform_core.console.tenant import home as tenant_home
from platform_core.console.tenant import not_found as tenant_not_found
from platform_core.console.tenant import settings as tenant_settings
from platform_core.console.tenant import webhooks as tenant_webhooks

TENANT_ROUTERS: tuple[APIRouter, ...] = (
    tenant_home.router,
    tenant_auth.router,
    tenant_auth_links.router,
    tenant_account.router,
    tenant_settings.router,
    tenant_billing.router,
    tenant_webhooks.router,
)

OPERATOR_ROUTERS: tuple[APIRouter, ...] = ()

# Each console's page for paths that nothing serves (the router's default, not routes).
FALLBACKS: tuple[APIRouter, ...] = (tenant_not_found.router,)

ROUTERS: tuple[APIRouter, ...] = (*TENANT_ROUTERS, *OPERATOR_ROUTERS)
