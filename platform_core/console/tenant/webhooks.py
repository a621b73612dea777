"""Webhook endpoints (`/webhooks`, permission webhooks:manage and the plan's `webhooks` feature): the
list, adding an endpoint, its page (edit, enable/disable, delete, rotate the secret, send a test event),
and its delivery log (filter, redeliver one, replay the failed ones since a time); through the webhooks
service of `/api/v1/webhook-endpoints` and the same gates in the same order (the permission, then the
plan, then the endpoint named in the path).

A signing secret is shown once, on the answer to the POST that made it (adding an endpoint, rotating
its secret): never in a redirect's URL, never on a GET, and the answer is sent with
`Cache-Control: no-store`. Sending the same form again (a reload, a double click) makes nothing new.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Request, Response
from pydantic import ValidationError
from starlette.datastructures import FormData

from billing.catalog import Feature
from billing.dependencies import FeatureNotInPlan, require_feature
from platform_core.access.permissions import Permission
from platform_core.console.forms import claim_submission, errors_by_field, new_nonce, release_submission
from platform_core.console.templating import render
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.events import CATALOG, EventType
from platform_core.kernel.paging import MAX_PAGE, PageParams
from platform_core.webhooks import service as webhook_service
from platform_core.webhooks.exceptions import TargetNotAllowed, TooManyEndpoints
from platform_core.webhooks.models import DeliveryStatus, WebhookEndpoint
from platform_core.webhooks.repository import DeliveryFilter
from platform_core.webhooks.schemas import EndpointCreate, EndpointUpdate, ReplayRequest
from platform_core.webhooks.settings import get_webhook_settings

router = tenant_router()

WebhooksPage = Annotated[TenantPage, Depends(permission_page(Permission.WEBHOOKS_MANAGE))]

_plan_includes_webhooks = require_feature(Feature.WEBHOOKS)  # the API's own gate of every endpoint route

ENDPOINTS_PAGE_SIZE = 25
DELIVERIES_PAGE_SIZE = 25
SECRET_HEADERS = {"Cache-Control": "no-store"}
EVENTS_REQUIRED = "Choose at least one event to send."


def event_choices() -> list[EventType]:
    """The event types an endpoint may subscribe to: the catalogue (`GET /api/v1/webhook-events`)."""
    return list(CATALOG.values())


def paging_of(value: str | None, page_size: int) -> PageParams:
    """The page a list shows: `?page=N` when it is a page number, else the first (a browser's URL is
    forgiving where the API's is strict)."""
    try:
        number = int(value or 1)
    except ValueError:
        number = 1
    return PageParams(page=min(max(number, 1), MAX_PAGE), page_size=page_size)


def since_of(local: str, utc: str = "") -> datetime:
    """The UTC time of the replay form: `utc` is what the page's script computed from the browser's
    time zone (an ISO time with its offset); without it the `datetime-local` value is taken as UTC.
    ValueError when neither is a time."""
    if utc.strip():
        moment = datetime.fromisoformat(utc.strip().replace("Z", "+00:00"))
        if moment.tzinfo is None:
            raise ValueError("a time without its offset")
        return moment.astimezone(UTC)
    if not local.strip():
        raise ValueError("no time")
    moment = datetime.fromisoformat(local.strip())
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def _plan_refusal(page: TenantPage) -> str | None:
    """None when the plan includes webhooks; else why not (the API's own words)."""
    try:
        await _plan_includes_webhooks(page.request)
    except FeatureNotInPlan as exc:
        return exc.message
    return None


def _plan_page(page: TenantPage, refusal: str) -> Response:
    """The webhooks page of a plan without webhooks: what the plan lacks, and the way to billing (403,
    as the API answers)."""
    context = {"plan_refusal": refusal, "endpoints": None, "page_url": None}
    return render(page.request, "tenant/webhooks.html", context, status_code=403)


async def _endpoint(page: TenantPage, endpoint_id: uuid.UUID, *, lock: bool = False) -> WebhookEndpoint:
    """The endpoint named in the path, in this tenant (EndpointNotFound, the 404 page, otherwise)."""
    return await webhook_service.get_endpoint(page.session, endpoint_id, lock=lock)


def _form_values(form: FormData) -> dict[str, Any]:
    """The endpoint form as sent (kept for showing it again)."""
    return {
        "url": str(form.get("url", "")),
        "description": str(form.get("description", "")),
        "events": [v for v in form.getlist("events") if isinstance(v, str)],
    }


def _endpoint_errors(exc: ValidationError, values: dict[str, Any]) -> dict[str, str]:
    """The messages of an invalid endpoint form, per field, in the form's words."""
    errors = errors_by_field(exc)
    unknown = [e for e in values["events"] if e not in CATALOG]
    if "events" in errors and not values["events"]:
        errors["events"] = EVENTS_REQUIRED
    elif "events" in errors and unknown:
        errors["events"] = f"Unknown event type {unknown[0][:100]!r}: choose events from the list."
    if "url" in errors and not values["url"].strip():
        errors["url"] = "Enter the URL that receives the events."
    return errors


async def _add_target_error(errors: dict[str, str], url: str, current: str | None = None) -> None:
    """When another field is invalid, say at once whether the URL may receive webhooks too (the
    service's own check), rather than only after the other fields are fixed."""
    url = url.strip()
    if "url" in errors or not url or url == current:
        return
    try:
        await webhook_service.check_target(url)
    except TargetNotAllowed as exc:
        errors["url"] = exc.message


def _refusal_errors(exc: TargetNotAllowed | TooManyEndpoints) -> dict[str, str]:
    """The service's refusal of a form, on its field (the URL) or on the form as a whole."""
    return {"url": exc.message} if isinstance(exc, TargetNotAllowed) else {"__all__": exc.message}


def _form_page(
    page: TenantPage,
    *,
    endpoint: WebhookEndpoint | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """The form of a new endpoint (`endpoint` None) or of an endpoint's changes."""
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "values": values,
        "checked": set(values.get("events", [])),
        "events": event_choices(),
        "errors": errors or {},
        "new_nonce": new_nonce(),
    }
    return render(page.request, "tenant/webhook_form.html", context, status_code=status)


def _log_filter(request: Request) -> tuple[DeliveryFilter, dict[str, str]]:
    """The delivery log's filter from the query (values it does not know are ignored)."""
    status = request.query_params.get("status", "")
    event_type = request.query_params.get("event_type", "")
    status = status if status in {s.value for s in DeliveryStatus} else ""
    event_type = event_type if event_type in CATALOG else ""
    return DeliveryFilter(status=status or None, event_type=event_type or None), {
        "status": status,
        "event_type": event_type,
    }


async def _endpoint_page(
    page: TenantPage,
    endpoint: WebhookEndpoint,
    *,
    secret: str | None = None,
    rotated: bool = False,
    replay_values: dict[str, Any] | None = None,
    replay_errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    """An endpoint's page: its settings, its actions and its delivery log (and a secret just made)."""
    flt, chosen = _log_filter(page.request)
    paging = paging_of(page.request.query_params.get("page"), DELIVERIES_PAGE_SIZE)
    deliveries = await webhook_service.list_deliveries(page.session, endpoint, flt, paging)
    base = f"/webhooks/{endpoint.id}"
    query = {k: v for k, v in chosen.items() if v}

    def page_url(number: int) -> str:
        return f"{base}?{urlencode({**query, 'page': number})}#deliveries"

    now = datetime.now(UTC)
    delivery_settings = get_webhook_settings()
    context: dict[str, Any] = {
        "endpoint": endpoint,
        "secret": secret,
        "rotated": rotated,
        "previous_secret_hours": delivery_settings.previous_secret_hours,
        "timeout_seconds": delivery_settings.timeout_seconds,
        "previous_until": (
            endpoint.previous_secret_until
            if endpoint.previous_secret_until is not None and endpoint.previous_secret_until > now
            else None
        ),
        "catalog": CATALOG,
        "deliveries": deliveries,
        "page_url": page_url,
        "chosen": chosen,
        "filtered": bool(query),
        "status_options": [("", "Any status")] + [(s.value, s.value.capitalize()) for s in DeliveryStatus],
        "event_options": [("", "Any event")] + [(name, name) for name in CATALOG],
        "replay_values": replay_values or {},
        "replay_errors": replay_errors or {},
        "new_nonce": new_nonce(),
    }
    response = render(page.request, "tenant/webhook.html", context, status_code=status)
    if secret is not None:
        response.headers.update(SECRET_HEADERS)
    return response


# --- The list and a new endpoint -----------------------------------------------------------------


@router.get("/webhooks")
async def webhook_endpoints(page: WebhooksPage) -> Response:
    """The workspace's webhook endpoints (never their secrets), oldest first."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    paging = paging_of(page.request.query_params.get("page"), ENDPOINTS_PAGE_SIZE)
    endpoints = await webhook_service.list_endpoints(page.session, paging)
    context: dict[str, Any] = {
        "plan_refusal": None,
        "endpoints": endpoints,
        "page_url": lambda n: f"/webhooks?page={n}",
        "catalog": CATALOG,
    }
    return render(page.request, "tenant/webhooks.html", context)


@router.get("/webhooks/new")
async def new_endpoint_form(page: WebhooksPage) -> Response:
    """The form of a new endpoint: its URL, a description, and the events it receives."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    return _form_page(page, endpoint=None, values={"url": "", "description": "", "events": []})


@router.post("/webhooks/new")
async def create_endpoint(page: WebhooksPage, request: Request) -> Response:
    """Add an endpoint (as `POST /api/v1/webhook-endpoints`) and show its secret on this answer only."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    values = _form_values(await request.form())
    try:
        body = EndpointCreate.model_validate(values)
    except ValidationError as exc:
        errors = _endpoint_errors(exc, values)
        await _add_target_error(errors, values["url"])
        return _form_page(page, endpoint=None, values=values, errors=errors, status=422)
    scope = f"webhooks:{page.tenant.id}"
    if not await claim_submission(request, scope=scope):
        notice = "That form was already sent: the endpoint was added, and its secret was shown then."
        return redirect("/webhooks", notice=notice, settings=page.settings)
    try:
        endpoint = await webhook_service.create_endpoint(page.session, page.user.actor, body)
    except (TargetNotAllowed, TooManyEndpoints) as exc:
        await release_submission(request, scope=scope)
        errors = _refusal_errors(exc)
        return _form_page(page, endpoint=None, values=values, errors=errors, status=exc.status_code)
    return await _endpoint_page(page, endpoint, secret=endpoint.secret, status=201)


# --- One endpoint --------------------------------------------------------------------------------


@router.get("/webhooks/{endpoint_id}")
async def webhook_endpoint(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """An endpoint (never its secret), its actions, and its delivery log filtered by the query."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    return await _endpoint_page(page, await _endpoint(page, endpoint_id))


@router.get("/webhooks/{endpoint_id}/edit")
async def edit_endpoint_form(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """The form of an endpoint's URL, description and events."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id)
    values = {"url": endpoint.url, "description": endpoint.description, "events": list(endpoint.events)}
    return _form_page(page, endpoint=endpoint, values=values)


@router.post("/webhooks/{endpoint_id}/edit")
async def update_endpoint(page: WebhooksPage, endpoint_id: uuid.UUID, request: Request) -> Response:
    """Change an endpoint's URL, description and events (as `PATCH /api/v1/webhook-endpoints/{id}`)."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)  # 404 before reading the form
    values = _form_values(await request.form())
    try:
        body = EndpointUpdate.model_validate(values)
    except ValidationError as exc:
        errors = _endpoint_errors(exc, values)
        await _add_target_error(errors, values["url"], current=endpoint.url)
        return _form_page(page, endpoint=endpoint, values=values, errors=errors, status=422)
    try:
        await webhook_service.update_endpoint(page.session, page.tenant.id, page.user.actor, endpoint, body)
    except TargetNotAllowed as exc:
        errors = _refusal_errors(exc)
        return _form_page(page, endpoint=endpoint, values=values, errors=errors, status=exc.status_code)
    return redirect(f"/webhooks/{endpoint_id}", notice="The endpoint is saved.", settings=page.settings)


async def _set_enabled(page: TenantPage, endpoint_id: uuid.UUID, enabled: bool) -> Response:
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)
    body = EndpointUpdate(enabled=enabled)
    await webhook_service.update_endpoint(page.session, page.tenant.id, page.user.actor, endpoint, body)
    notice = (
        "The endpoint is enabled: deliveries that were waiting are sent now, in order."
        if enabled
        else "The endpoint is disabled: nothing is sent to it, and events from now on are not kept for it."
    )
    return redirect(f"/webhooks/{endpoint_id}", notice=notice, settings=page.settings)


@router.post("/webhooks/{endpoint_id}/enable")
async def enable_endpoint(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """Enable an endpoint (as `PATCH` with `enabled: true`): its failure record is cleared."""
    return await _set_enabled(page, endpoint_id, True)


@router.post("/webhooks/{endpoint_id}/disable")
async def disable_endpoint(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """Disable an endpoint (as `PATCH` with `enabled: false`)."""
    return await _set_enabled(page, endpoint_id, False)


@router.get("/webhooks/{endpoint_id}/delete")
async def delete_endpoint_form(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """Ask before deleting an endpoint (works without scripts)."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id)
    return render(page.request, "tenant/webhook_delete.html", {"endpoint": endpoint})


@router.post("/webhooks/{endpoint_id}/delete")
async def delete_endpoint(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """Delete an endpoint (as `DELETE /api/v1/webhook-endpoints/{id}`): nothing more is sent to it."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)
    url = endpoint.url
    await webhook_service.delete_endpoint(page.session, page.user.actor, endpoint)
    notice = f"The endpoint {url} is deleted: nothing more is sent to it."
    return redirect("/webhooks", notice=notice, settings=page.settings)


@router.post("/webhooks/{endpoint_id}/rotate-secret")
async def rotate_secret(page: WebhooksPage, endpoint_id: uuid.UUID, request: Request) -> Response:
    """A new signing secret (as `POST .../rotate-secret`), shown on this answer only; the previous one
    keeps signing beside it for a day."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)
    scope = f"webhooks:{page.tenant.id}"
    if not await claim_submission(request, scope=scope):
        notice = "That form was already sent: the secret was rotated, and the new one was shown then."
        return redirect(f"/webhooks/{endpoint_id}", notice=notice, settings=page.settings)
    endpoint = await webhook_service.rotate_secret(page.session, page.user.actor, endpoint)
    return await _endpoint_page(page, endpoint, secret=endpoint.secret, rotated=True)


@router.post("/webhooks/{endpoint_id}/test")
async def send_test_event(page: WebhooksPage, endpoint_id: uuid.UUID) -> Response:
    """Send a `webhook.test` event to this endpoint only (as `POST .../test`)."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)
    delivery = await webhook_service.send_test(page.session, page.tenant.id, endpoint)
    notice = (
        f"A test event ({delivery.event_id}) is on its way: follow it in the delivery log."
        if endpoint.enabled
        else f"A test event ({delivery.event_id}) is waiting: it is sent once the endpoint is enabled."
    )
    return redirect(f"/webhooks/{endpoint_id}#deliveries", notice=notice, settings=page.settings)


@router.post("/webhooks/{endpoint_id}/deliveries/{delivery_id}/redeliver")
async def redeliver(page: WebhooksPage, endpoint_id: uuid.UUID, delivery_id: uuid.UUID) -> Response:
    """Send one delivery again now (as `POST .../deliveries/{id}/redeliver`)."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)
    delivery = await webhook_service.redeliver(
        page.session, page.tenant.id, page.user.actor, endpoint, delivery_id
    )
    notice = f"The event {delivery.event_id} is being sent again."
    return redirect(f"/webhooks/{endpoint_id}#deliveries", notice=notice, settings=page.settings)


@router.post("/webhooks/{endpoint_id}/replay")
async def replay_failed(page: WebhooksPage, endpoint_id: uuid.UUID, request: Request) -> Response:
    """Send again every failed delivery of events since a time (as `POST .../replay`)."""
    if (refusal := await _plan_refusal(page)) is not None:
        return _plan_page(page, refusal)
    endpoint = await _endpoint(page, endpoint_id, lock=True)  # 404 before reading the form
    form = await request.form()
    values = {"since": str(form.get("since", "")), "since_utc": str(form.get("since_utc", ""))}
    try:
        body = ReplayRequest(since=since_of(values["since"], values["since_utc"]))
    except ValueError:  # a ValidationError is a ValueError too
        errors = {"since": "Enter the date and time to replay from."}
        return await _endpoint_page(page, endpoint, replay_values=values, replay_errors=errors, status=422)
    count = await webhook_service.replay_failed(
        page.session, page.tenant.id, page.user.actor, endpoint, body.since
    )
    when = body.since.strftime("%Y-%m-%d %H:%M UTC")
    notice = (
        f"{count} failed {'delivery' if count == 1 else 'deliveries'} since {when} "
        f"{'is' if count == 1 else 'are'} being sent again."
        if count
        else f"No delivery since {when} has failed: nothing to send again."
    )
    return redirect(f"/webhooks/{endpoint_id}#deliveries", notice=notice, settings=page.settings)
