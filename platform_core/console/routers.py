"""Every console router, in matching order (the app factory adds them after the API's routes)."""

from __future__ import annotations

from fastapi import APIRouter

from platform_core.console.operator import auth as operator_auth
from platform_core.console.operator import not_found as operator_not_found
from platform_core.console.operator import platform as operator_platform
from platform_core.console.operator import tenants as operator_tenants
from platform_core.console.tenant import account as tenant_account
from platform_core.console.tenant import api_keys as tenant_api_keys
from platform_core.console.tenant import audit as tenant_audit
from platform_core.console.tenant import auth as tenant_auth
from platform_core.console.tenant import auth_links as tenant_auth_links
from platform_core.console.tenant import billing as tenant_billing
from platform_core.console.tenant import chat as tenant_chat
from platform_core.console.tenant import home as tenant_home
from platform_core.console.tenant import invitations as tenant_invitations
from platform_core.console.tenant import items as tenant_items
from platform_core.console.tenant import members as tenant_members
from platform_core.console.tenant import not_found as tenant_not_found
from platform_core.console.tenant import reports as tenant_reports
from platform_core.console.tenant import roles as tenant_roles
from platform_core.console.tenant import settings as tenant_settings
from platform_core.console.tenant import uploads as tenant_uploads
from platform_core.console.tenant import webhooks as tenant_webhooks

TENANT_ROUTERS: tuple[APIRouter, ...] = (
    tenant_home.router,
    tenant_auth.router,
    tenant_auth_links.router,
    tenant_account.router,
    tenant_settings.router,
    tenant_billing.router,
    tenant_invitations.router,  # before members: /members/invitations is not a member's id
    tenant_members.router,
    tenant_roles.router,
    tenant_api_keys.router,
    tenant_items.router,
    tenant_uploads.router,
    tenant_reports.router,
    tenant_audit.router,
    tenant_webhooks.router,
    tenant_chat.router,
)

OPERATOR_ROUTERS: tuple[APIRouter, ...] = (
    operator_auth.router,
    operator_tenants.router,
    operator_platform.router,
)

# Each console's page for paths that nothing serves (the router's default, not routes).
FALLBACKS: tuple[APIRouter, ...] = (tenant_not_found.router, operator_not_found.router)

ROUTERS: tuple[APIRouter, ...] = (*TENANT_ROUTERS, *OPERATOR_ROUTERS)
