"""API keys (`/api-keys`, permission api_keys:manage): the list, creating a key with a name, scopes and
an optional expiry, revoking one; through the API keys service of `/api/v1/api-keys` and its gates
(the plan must include API keys; a key holds only permissions its creator holds).

A new key's secret is shown once, on the answer to the form's POST itself (never in a redirect's URL,
never stored): the page says to copy it now, and is sent with `Cache-Control: no-store`. Sending the
same form again (a reload) creates nothing and shows the list.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from pydantic import ValidationError

from billing.catalog import Feature
from billing.dependencies import FeatureNotInPlan, require_feature
from platform_core.access.permissions import Permission
from platform_core.api_keys import service as api_key_service
from platform_core.api_keys.dependencies import get_current_api_key
from platform_core.api_keys.exceptions import InvalidExpiry, UnknownPermission
from platform_core.api_keys.schemas import ApiKeyCreate, ApiKeyCreated
from platform_core.console.forms import claim_submission, errors_by_field, new_nonce, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.lists import paging_of, permission_areas
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.members.exceptions import CannotGrant

router = tenant_router()

ApiKeysPage = Annotated[TenantPage, Depends(permission_page(Permission.API_KEYS_MANAGE))]

_plan_includes_api_keys = require_feature(Feature.API_KEYS)  # the API's own gate of key creation


def expiry_of(value: str) -> datetime | None:
    """The expiry of a key from the form's date (`YYYY-MM-DD`): the key works until the end of that
    day, UTC; no date means it never expires. ValueError for anything else."""
    if not value.strip():
        return None
    day = date.fromisoformat(value.strip())
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)


async def _plan_allows(page: TenantPage) -> str | None:
    """None when the plan includes API keys; else why not."""
    try:
        await _plan_includes_api_keys(page.request)
    except FeatureNotInPlan as exc:
        return exc.message
    return None


async def _keys_page(
    page: TenantPage,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    created: ApiKeyCreated | None = None,
    status: int = 200,
) -> Response:
    paging = paging_of(page.request.query_params.get("page"))
    keys = await api_key_service.list_api_keys(page.session, paging)
    values = values or {"scopes": []}
    context: dict[str, Any] = {
        "keys": keys,
        "page_url": lambda n: f"/api-keys?page={n}",
        "created": created,
        "plan_refusal": await _plan_allows(page),
        "values": values,
        "checked": set(values.get("scopes", [])),
        "areas": permission_areas(page.user.permissions),
        "errors": errors or {},
        "new_nonce": new_nonce(),
        "today": datetime.now(UTC).date().isoformat(),
    }
    response = render(page.request, "tenant/api_keys.html", context, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/api-keys")
async def api_keys(page: ApiKeysPage) -> Response:
    """The workspace's API keys, newest first (revoked and expired ones too), and the form for a new one."""
    return await _keys_page(page)


@router.post("/api-keys")
async def create_api_key(page: ApiKeysPage, request: Request) -> Response:
    """Create a key (as `POST /api/v1/api-keys`) and show its secret on this answer only."""
    await _plan_includes_api_keys(request)  # the plan's refusal is the 403 page, as the API's
    form = await request.form()
    values: dict[str, Any] = {
        "name": str(form.get("name", "")),
        "scopes": [v for v in form.getlist("scopes") if isinstance(v, str)],
        "expires_on": str(form.get("expires_on", "")),
    }
    errors: dict[str, str] = {}
    try:
        expires_at = expiry_of(values["expires_on"])
    except ValueError:
        expires_at, errors["expires_on"] = None, "Enter a date, such as 2030-12-31."
    try:
        body = ApiKeyCreate.model_validate(
            {"name": values["name"], "scopes": values["scopes"], "expires_at": expires_at}
        )
    except ValidationError as exc:
        found = errors_by_field(exc)
        if "scopes" in found:
            found["scopes"] = "Choose at least one permission for the key."
        errors = {**found, **errors}
    if errors:
        return await _keys_page(page, values=values, errors=errors, status=422)
    if not await claim_submission(request, scope=str(page.tenant.id)):
        notice = "That form was already sent: the key was created, and its secret was shown then."
        return redirect("/api-keys", notice=notice, settings=page.settings)
    try:
        created = await api_key_service.create_api_key(page.session, page.user, body)
    except (InvalidExpiry, UnknownPermission, CannotGrant) as exc:
        await release_submission(request, scope=str(page.tenant.id))
        field = {InvalidExpiry: "expires_on", UnknownPermission: "scopes", CannotGrant: "scopes"}[type(exc)]
        return await _keys_page(page, values=values, errors={field: exc.message}, status=exc.status_code)
    return await _keys_page(page, created=created, status=201)


@router.post("/api-keys/{key_id}/revoke")
async def revoke_api_key(page: ApiKeysPage, key_id: uuid.UUID) -> Response:
    """Revoke a key at once (as `DELETE /api/v1/api-keys/{id}`); revoking it again changes nothing."""
    key = await get_current_api_key(key_id, page.session)
    await api_key_service.revoke_api_key(page.session, page.user, key)
    notice = f"The key {key.name} is revoked: requests with it are refused from now on."
    return redirect("/api-keys", notice=notice, settings=page.settings)
