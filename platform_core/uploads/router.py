"""HTTP routes for uploads, served on a tenant's host. Files go to the object storage directly."""

from __future__ import annotations

from fastapi import APIRouter, Request

from billing.dependencies import StorageLimitReached
from platform_core.access.dependencies import UploadsRead, UploadsWrite
from platform_core.kernel.errors import raises
from platform_core.kernel.paging import PageDep
from platform_core.kernel.tenancy import TenantDep, TenantSessionDep
from platform_core.uploads import direct as direct_uploads
from platform_core.uploads import service as upload_service
from platform_core.uploads.dependencies import CurrentUpload, StoreDep, UploadForm, content_length
from platform_core.uploads.exceptions import (
    ContentTypeNotAllowed,
    FileTooLarge,
    MalformedForm,
    NotAForm,
    UploadContentTypeMismatch,
    UploadInterrupted,
    UploadNotFound,
    UploadNotReceived,
    UploadSizeMismatch,
)
from platform_core.uploads.schemas import UploadCreate, UploadCreated, UploadDetail, UploadPage, UploadState
from platform_core.uploads.settings import get_s3_settings

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])


@router.get("", response_model=UploadPage)
async def list_uploads(
    principal: UploadsRead,
    session: TenantSessionDep,
    paging: PageDep,
    status: UploadState | None = None,
) -> UploadPage:
    """List the tenant's uploads, newest first, optionally by status."""
    return await upload_service.list_uploads(session, state=status, paging=paging)


@router.post("", status_code=201, response_model=UploadCreated)
@raises(StorageLimitReached, ContentTypeNotAllowed)
async def create_upload(
    principal: UploadsWrite, body: UploadCreate, tenant: TenantDep, session: TenantSessionDep, store: StoreDep
) -> UploadCreated:
    """Reserve room for a file (402 beyond the plan's storage) and return a signed form to upload it."""
    return await upload_service.create_upload(session, store, tenant, principal, body)


_MULTIPART_FILE = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            }
        },
    }
}


@router.post("/direct", status_code=201, response_model=UploadDetail, openapi_extra=_MULTIPART_FILE)
@raises(
    StorageLimitReached,
    ContentTypeNotAllowed,
    FileTooLarge,
    MalformedForm,
    NotAForm,
    UploadInterrupted,
    UploadNotReceived,
    UploadNotFound,
)
async def create_direct_upload(
    principal: UploadsWrite, tenant: TenantDep, store: StoreDep, form: UploadForm, request: Request
) -> UploadDetail:
    """Upload a small file in one multipart request (part `file`), streamed to the storage and stored."""
    return await direct_uploads.direct_upload(
        db=request.app.state.db,
        store=store,
        settings=get_s3_settings(),
        tenant=tenant,
        principal=principal,
        form=form,
        content_length=content_length(request),
    )


@router.post("/{upload_id}/complete", response_model=UploadDetail)
@raises(UploadNotReceived, UploadSizeMismatch, UploadContentTypeMismatch, StorageLimitReached)
async def complete_upload(
    principal: UploadsWrite,
    upload: CurrentUpload,
    tenant: TenantDep,
    session: TenantSessionDep,
    store: StoreDep,
) -> UploadDetail:
    """Check the uploaded file against the declared size and mark the upload stored."""
    return await upload_service.complete_upload(session, store, tenant, upload)


@router.get("/{upload_id}", response_model=UploadDetail)
async def get_upload(principal: UploadsRead, upload: CurrentUpload, store: StoreDep) -> UploadDetail:
    """Get one upload, with a signed download link once it is stored."""
    return await upload_service.get_upload(store, upload)


@router.delete("/{upload_id}", status_code=204)
async def delete_upload(
    principal: UploadsWrite, upload: CurrentUpload, session: TenantSessionDep, store: StoreDep
) -> None:
    """Delete an upload and its file, freeing its storage."""
    await upload_service.delete_upload(session, store, principal, upload)
