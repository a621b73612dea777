"""The workspace's own settings (permission tenant:settings), through the same service as the API."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from platform_core.access.permissions import Permission
from platform_core.console.forms import errors_by_field
from platform_core.console.templating import render
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.tenant_settings import service as tenant_settings_service
from platform_core.tenant_settings.schemas import TenantSettingsRead, TenantSettingsUpdate

router = tenant_router()

SettingsPage = Annotated[TenantPage, Depends(permission_page(Permission.TENANT_SETTINGS))]

# The form's checkboxes: a box left unticked is absent from the posted form, so it means false.
_CHECKBOXES = ("allow_signup",)


def _settings_page(
    page: TenantPage, values: dict[str, Any], errors: dict[str, str], updated_at: Any, status: int = 200
) -> Response:
    context = {
        "values": values,
        "errors": errors,
        "updated_at": updated_at,
        "signup_url": page.settings.tenant_url(page.tenant.slug, "/sign-up"),
    }
    return render(page.request, "tenant/settings.html", context, status_code=status)


@router.get("/settings")
async def settings_form(page: SettingsPage) -> Response:
    """The workspace's settings."""
    current = TenantSettingsRead.model_validate(await tenant_settings_service.get(page.session))
    return _settings_page(page, current.model_dump(), {}, current.updated_at)


@router.post("/settings")
async def update_settings(page: SettingsPage, request: Request) -> Response:
    """Save the workspace's settings (audited when something changes)."""
    form = await request.form()
    values: dict[str, Any] = {name: name in form for name in _CHECKBOXES}
    try:
        body = TenantSettingsUpdate.model_validate(values)
    except ValidationError as exc:
        current = await tenant_settings_service.get(page.session)
        return _settings_page(page, values, errors_by_field(exc), current.updated_at, status=422)
    changes = body.model_dump(exclude_unset=True)
    await tenant_settings_service.update(page.session, page.user.actor, changes=changes)
    return redirect("/settings", notice="Settings saved.", settings=page.settings)
