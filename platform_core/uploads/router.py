"""HTTP routes for uploads, served on a tenant's host. Files go to the object storage directly."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from billing.dependencies import StorageLimitReached
from platform_core.auth.dependencies import UploadsRead, UploadsWrite
from platform_core.errors import raises
from platform_core.tenancy import TenantDep, TenantSessionDep
from platform_core.uploads import service as upload_service
from platform_core.uploads.dependencies import CurrentUpload, StoreDep
from platform_core.uploads.exceptions import UploadNotReceived, UploadSizeMismatch
from platform_core.uploads.schemas import UploadCreate, UploadCreated, UploadDetail, UploadPage, UploadState

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])


@router.get("", response_model=UploadPage)
async def list_uploads(
    principal: UploadsRead,
    session: TenantSessionDep,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 20,
    status: UploadState | None = None,
) -> UploadPage:
    """List the tenant's uploads, newest first, optionally by status."""
    return await upload_service.list_uploads(session, state=status, page=page, page_size=page_size)


@router.post("", status_code=201, response_model=UploadCreated)
@raises(StorageLimitReached)
async def create_upload(
    principal: UploadsWrite, body: UploadCreate, tenant: TenantDep, session: TenantSessionDep, store: StoreDep
) -> UploadCreated:
    """Reserve room for a file (402 beyond the plan's storage) and return a signed form to upload it."""
    return await upload_service.create_upload(session, store, tenant, principal, body)


@router.post("/{upload_id}/complete", response_model=UploadDetail)
@raises(UploadNotReceived, UploadSizeMismatch, StorageLimitReached)
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
