"""`/openapi.json` and `/docs` on every host: each kind of host documents the routes it serves.

Swagger UI's JavaScript and CSS come from the fastapi-offline package and are served here, so the page
works without reaching any other host.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import Mount

from platform_core.access.dependencies import PUBLIC
from platform_core.app.openapi.document import build_document
from platform_core.kernel.tenancy import HostKind, resolve_host

router = APIRouter(dependencies=[PUBLIC], include_in_schema=False)
ASSETS_PATH = "/docs/assets"
assets = Mount(
    ASSETS_PATH, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets"
)


async def host_kind(request: Request) -> HostKind:
    """Which kind of host the request is for (400 malformed host, 404 unknown)."""
    resolution = await resolve_host(request)
    if resolution.tenant is not None:
        return HostKind.TENANT
    if resolution.platform_name == request.app.state.settings.operator_host:
        return HostKind.OPERATOR
    return HostKind.PLATFORM


def document_for(app: Any, kind: HostKind) -> dict[str, Any]:
    """The app's document for this kind of host, built once per process."""
    documents: dict[HostKind, dict[str, Any]] = app.state.openapi_documents
    if kind not in documents:
        documents[kind] = build_document(app, kind)
    return documents[kind]


@router.get("/openapi.json")
async def openapi_document(request: Request) -> JSONResponse:
    """The OpenAPI document of the routes this host serves."""
    return JSONResponse(document_for(request.app, await host_kind(request)))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI for this host's document, with every asset served by the platform."""
    kind = await host_kind(request)
    root = request.scope.get("root_path", "")
    return get_swagger_ui_html(
        openapi_url=f"{root}/openapi.json",
        title=f"{request.app.title} ({kind.value})",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters={"persistAuthorization": False, "displayRequestDuration": True},
    )
