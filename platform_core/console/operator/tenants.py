"""Tenants in the operator console: the list (search, status, pages), a tenant's page, and what operators
do to a tenant (suspend, resume, delete, restore, add an owner), each through the operator services the
operator API calls, so each is recorded in the tenant's audit log and the operator log alike."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response

from billing import service as billing_service
from billing.usage import UsageMeters
from platform_core.console.forms import Form, read_form
from platform_core.console.operator.pages import OperatorPage, SignedInOperatorPage, page_number
from platform_core.console.operator.route import operator_router
from platform_core.console.templating import render
from platform_core.console.tenant.pages import redirect
from platform_core.kernel.context import TenantContext, TenantStatus
from platform_core.kernel.db.alembic_config import head_revision
from platform_core.kernel.db.engines import Database
from platform_core.kernel.paging import DEFAULT_PAGE_SIZE, PageParams
from platform_core.operators import service as operator_service
from platform_core.operators.dependencies import tenant_slug
from platform_core.operators.exceptions import ExportNotFound
from platform_core.operators.schemas import AddOwnerRequest, ExportRequest, SuspendRequest
from tenants import repository as tenant_repository
from tenants.models import Tenant

router = operator_router()

STATUSES = [s.value for s in TenantStatus if s is not TenantStatus.PROVISIONING]
# Tenants whose schema exists (its users, usage and audit log can be read).
_WITH_SCHEMA = {TenantStatus.ACTIVE.value, TenantStatus.SUSPENDED.value, TenantStatus.DELETING.value}


@router.get("/tenants")
async def tenants_list(
    page: SignedInOperatorPage, q: str | None = None, status: str | None = None, p: str | None = None
) -> Response:
    """Tenants by slug: a search in slug, name and owner's email, a status filter, and pages."""
    search = (q or "").strip()[:100]
    chosen = TenantStatus(status) if status in STATUSES else None
    paging = PageParams(page=page_number(p), page_size=DEFAULT_PAGE_SIZE)
    found = await operator_service.list_tenants(page.session, status=chosen, paging=paging, search=search)

    def url_for_page(number: int) -> str:
        query = {k: v for k, v in (("q", search), ("status", chosen.value if chosen else "")) if v}
        return "/tenants?" + urlencode({**query, "p": number})

    context = {
        "tenants": found,
        "values": {"q": search, "status": chosen.value if chosen else ""},
        "statuses": STATUSES,
        "url_for_page": url_for_page,
    }
    return render(page.request, "operator/tenants.html", context)


async def _tenant(page: OperatorPage, slug: str) -> Tenant:
    """The live tenant with this slug (the 404 page otherwise, for a malformed slug too)."""
    return await operator_service.get_tenant(page.session, await tenant_slug(slug))


async def _tenant_page(
    page: OperatorPage,
    tenant: Tenant,
    *,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """A tenant's page: status, plan and usage, schema revision, domains, users, recent operator actions;
    `form` names the action form whose `values` and `errors` are shown (after invalid input)."""
    request = page.request
    db: Database = request.app.state.db
    meters: UsageMeters = request.app.state.usage_meters
    billing = None
    members = None
    if tenant.status in _WITH_SCHEMA:
        context = TenantContext(
            id=tenant.id,
            slug=tenant.slug,
            schema_name=tenant.schema_name,
            status=TenantStatus(tenant.status),
            name=tenant.name,
        )
        async with db.session(tenant.schema_name) as tenant_session:
            billing = await billing_service.billing_state(tenant_session, context, meters)
            members = await operator_service.list_members(tenant_session, PageParams(page=1, page_size=50))
    tenant_id = tenant.id
    domains = await page.session.run_sync(lambda sync: tenant_repository.list_domains(sync, tenant_id))
    stripe = await billing_service.operator_view(page.session, tenant.id, events=5)
    exports = await operator_service.list_exports(page.session, tenant)
    actions = await operator_service.list_actions(
        page.session, paging=PageParams(page=1, page_size=10), target_id=tenant.slug
    )
    context_values: dict[str, Any] = {
        "tenant": None,  # the layout's tenant (a tenant console's), never this one
        "subject": tenant,
        "billing": billing,
        "members": members,
        "domains": domains,
        "actions": actions,
        "exports": exports.items,
        "stripe": stripe,
        "head": head_revision(page.settings.migrations_dir, "tenant"),
        "tenant_url": page.settings.tenant_url(tenant.slug),
        "form": form,
        "values": values or {},
        "errors": errors or {},
    }
    return render(request, "operator/tenant.html", context_values, status_code=status)


@router.get("/tenants/{slug}")
async def tenant_detail(page: SignedInOperatorPage, slug: str) -> Response:
    """One tenant: what it is, how it stands, and the actions open to it."""
    return await _tenant_page(page, await _tenant(page, slug))


async def _invalid(page: OperatorPage, tenant: Tenant, name: str, form: Form[Any]) -> Response:
    """The tenant's page again, with the form `name` showing its input and errors (422)."""
    return await _tenant_page(page, tenant, form=name, values=form.values, errors=form.errors, status=422)


def _back(page: OperatorPage, slug: str, notice: str) -> Response:
    return redirect(f"/tenants/{slug}", notice=notice, settings=page.settings)


def _by(page: OperatorPage) -> Any:
    return operator_service.actor(page.signed_in, page.scope.ip)


@router.post("/tenants/{slug}/suspend")
async def tenant_suspend(page: SignedInOperatorPage, request: Request, slug: str) -> Response:
    """Suspend the tenant with a reason its users see (the operator API's suspend)."""
    tenant = await _tenant(page, slug)
    form: Form[SuspendRequest] = await read_form(request, SuspendRequest)
    if form.model is None:
        return await _invalid(page, tenant, "suspend", form)
    await operator_service.suspend_tenant(page.session, _by(page), slug=tenant.slug, reason=form.model.reason)
    return _back(page, tenant.slug, f"{tenant.slug} is suspended.")


@router.post("/tenants/{slug}/resume")
async def tenant_resume(page: SignedInOperatorPage, slug: str) -> Response:
    """Make a suspended tenant active again."""
    tenant = await _tenant(page, slug)
    await operator_service.resume_tenant(page.session, _by(page), slug=tenant.slug)
    return _back(page, tenant.slug, f"{tenant.slug} is active again.")


@router.post("/tenants/{slug}/delete")
async def tenant_delete(page: SignedInOperatorPage, slug: str) -> Response:
    """Mark the tenant for deletion: its data is kept for the grace period, when it can be restored."""
    tenant = await _tenant(page, slug)
    deleted = await operator_service.delete_tenant(page.session, page.scope, _by(page), slug=tenant.slug)
    until = deleted.purge_after.strftime("%Y-%m-%d") if deleted.purge_after else "the grace period ends"
    return _back(page, tenant.slug, f"{tenant.slug} is marked for deletion; its data is kept until {until}.")


@router.post("/tenants/{slug}/restore")
async def tenant_restore(page: SignedInOperatorPage, slug: str) -> Response:
    """Bring back a tenant marked for deletion."""
    tenant = await _tenant(page, slug)
    await operator_service.restore_tenant(page.session, _by(page), slug=tenant.slug)
    return _back(page, tenant.slug, f"{tenant.slug} is restored.")


@router.post("/tenants/{slug}/owners")
async def tenant_add_owner(page: SignedInOperatorPage, request: Request, slug: str) -> Response:
    """Make someone an owner: an existing user is promoted, a new account is emailed a set-password link."""
    tenant = await _tenant(page, slug)
    form: Form[AddOwnerRequest] = await read_form(request, AddOwnerRequest)
    if form.model is None:
        return await _invalid(page, tenant, "owner", form)
    added = await operator_service.add_owner(
        page.session, page.scope, _by(page), slug=tenant.slug, email=str(form.model.email), password=None
    )
    how = "was emailed a link to choose a password" if added.link_sent else "is now an owner"
    return _back(page, tenant.slug, f"{added.email} {how}.")


@router.post("/tenants/{slug}/exports")
async def tenant_export(page: SignedInOperatorPage, request: Request, slug: str) -> Response:
    """Ask a worker for an export of the tenant's data (optionally with its files)."""
    tenant = await _tenant(page, slug)
    form: Form[ExportRequest] = await read_form(request, ExportRequest)
    if form.model is None:
        return await _invalid(page, tenant, "export", form)
    await operator_service.request_export(
        page.session, _by(page), slug=tenant.slug, with_files=form.model.with_files
    )
    return _back(
        page,
        tenant.slug,
        "The export is being prepared: it is listed below, and can be downloaded once ready.",
    )


@router.get("/tenants/{slug}/exports/{export_id}/download")
async def tenant_export_download(page: SignedInOperatorPage, slug: str, export_id: uuid.UUID) -> Response:
    """Send the browser to a short-lived link to a finished export (the 404 page for anything else)."""
    tenant = await _tenant(page, slug)
    export = await operator_service.get_export(page.session, tenant, export_id)
    if export.download_url is None:
        raise ExportNotFound("This export is not ready to download.")
    return redirect(export.download_url)
