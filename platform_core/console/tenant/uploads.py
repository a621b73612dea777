"""The tenant console's files: the list, uploading from the browser straight to the object storage,
downloading, deleting.

Uploading takes three steps, as with the API: the page's script asks `POST /uploads/start` for a
signed form (the uploads service reserves the file's size against the plan's storage), posts the file
to the storage with it, showing the progress, and then calls `POST /uploads/{id}/complete`, where the
service checks what the storage holds. Those two routes are console routes (the browser session and
the CSRF token) that answer JSON for the script; the file itself never passes through the platform.
Every route calls the uploads service as `/api/v1/uploads` does, behind the same gates (uploads:read,
uploads:write).
"""

from __future__ import annotations

import contextlib
import uuid
from typing import Annotated, Any

from fastapi import Depends, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import ValidationError

from platform_core.access.permissions import Permission
from platform_core.console import cookies
from platform_core.console.forms import errors_by_field
from platform_core.console.templating import render
from platform_core.console.tenant.billing import size
from platform_core.console.tenant.lists import ListQuery, read_query
from platform_core.console.tenant.pages import TenantPage, permission_page, redirect
from platform_core.console.tenant.route import tenant_router
from platform_core.kernel.error_handlers import response_for
from platform_core.kernel.errors import AppError, NotFound
from platform_core.uploads import service as upload_service
from platform_core.uploads.dependencies import get_current_upload, get_object_store
from platform_core.uploads.exceptions import UploadNotReceived
from platform_core.uploads.models import Upload, UploadStatus
from platform_core.uploads.schemas import UploadCreate, UploadState
from platform_core.uploads.settings import get_s3_settings
from platform_core.uploads.storage import MAX_OBJECT_BYTES

router = tenant_router()

UploadsReadPage = Annotated[TenantPage, Depends(permission_page(Permission.UPLOADS_READ))]
UploadsWritePage = Annotated[TenantPage, Depends(permission_page(Permission.UPLOADS_WRITE))]

STATE_LABELS = {
    UploadState.STORED.value: "Stored",
    UploadState.PENDING.value: "Uploading",
    UploadState.EXPIRED.value: "Not received",
}


class UploadListQuery(ListQuery):
    """The list's filter: the same as `GET /api/v1/uploads` (`status`)."""

    status: UploadState | None = None


async def _upload(page: TenantPage, upload_id: uuid.UUID) -> Upload:
    """The upload, in this tenant; the 404 page otherwise (the API's own lookup)."""
    return await get_current_upload(upload_id, page.session)


def _json_error(status: int, code: str, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message, **extra}}, status_code=status)


@router.get("/uploads")
async def list_uploads(page: UploadsReadPage) -> Response:
    """The workspace's files, newest first, by status; the upload form for those who may upload."""
    view = read_query(page.request, UploadListQuery)
    uploads = await upload_service.list_uploads(
        page.session, state=view.query.status, paging=view.query.paging
    )
    s3 = get_s3_settings()
    context = {
        "view": view,
        "uploads": uploads,
        "state_labels": STATE_LABELS,
        "status_options": [("", "Any status"), *STATE_LABELS.items()],
        "can_write": page.can(Permission.UPLOADS_WRITE),
        "storage_configured": bool(s3.bucket),
        "size": size,
        "max_bytes": MAX_OBJECT_BYTES,
        "allowed_types": s3.allowed_content_types,
    }
    return render(page.request, "tenant/uploads.html", context, status_code=view.status)


@router.post("/uploads/start")
async def start_upload(page: UploadsWritePage) -> Response:
    """Reserve room for a file and answer the signed form that sends it to the storage (JSON)."""
    form = await page.request.form()
    values: dict[str, Any] = {
        name: value
        for name in ("filename", "content_type", "size_bytes")
        if isinstance(value := form.get(name), str)
    }
    if not values.get("content_type"):
        values.pop("content_type", None)  # the browser does not know the type: the API's default
    with contextlib.suppress(KeyError, ValueError):  # the API's body has a number here, not text
        values["size_bytes"] = int(values["size_bytes"])
    try:
        body = UploadCreate.model_validate(values)
    except ValidationError as exc:
        fields = errors_by_field(exc)
        message = "; ".join(f"{name.replace('_', ' ')}: {text}" for name, text in fields.items())
        return _json_error(
            422, "validation_error", f"This file cannot be uploaded ({message}).", fields=fields
        )
    try:
        store = await get_object_store()
        created = await upload_service.create_upload(page.session, store, page.tenant, page.user, body)
    except AppError as exc:
        return await response_for(page.request, exc)
    return JSONResponse(
        {
            "id": str(created.id),
            "complete_url": f"/uploads/{created.id}/complete",
            "upload": created.upload.model_dump(mode="json"),
        },
        status_code=201,
    )


@router.post("/uploads/{upload_id}/complete")
async def complete_upload(page: UploadsWritePage, upload_id: uuid.UUID) -> Response:
    """Check the file the browser sent to the storage and mark it stored (JSON)."""
    upload = await _upload(page, upload_id)
    try:
        store = await get_object_store()
        detail = await upload_service.complete_upload(page.session, store, page.tenant, upload)
    except NotFound:
        raise
    except AppError as exc:
        return await response_for(page.request, exc)
    response = JSONResponse({"id": str(detail.id), "status": detail.status.value, "list_url": "/uploads"})
    cookies.set_notice(response, page.settings, f"“{detail.filename}” uploaded.")
    return response


@router.get("/uploads/{upload_id}/download")
async def download_upload(page: UploadsReadPage, upload_id: uuid.UUID) -> Response:
    """Download a stored file: a redirect to a signed link of the storage."""
    upload = await _upload(page, upload_id)
    if upload.status != UploadStatus.STORED.value:
        raise UploadNotReceived("This file has not been uploaded (yet), so there is nothing to download.")
    detail = await upload_service.get_upload(await get_object_store(), upload)
    assert detail.download_url is not None  # a stored upload always has one
    return RedirectResponse(detail.download_url, status_code=303)


@router.post("/uploads/{upload_id}/delete")
async def delete_upload(page: UploadsWritePage, upload_id: uuid.UUID) -> Response:
    """Delete a file and free its storage, then go back to the list."""
    upload = await _upload(page, upload_id)
    name = upload.filename
    await upload_service.delete_upload(page.session, await get_object_store(), page.user, upload)
    return redirect("/uploads", notice=f"“{name}” deleted.", settings=page.settings)
