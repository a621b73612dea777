"""FastAPI dependencies for uploads: the upload named in the path, and the object store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from starlette.requests import ClientDisconnect

from platform_core.kernel.errors import raises
from platform_core.kernel.tenancy import TenantSessionDep
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.exceptions import StorageUnavailable, UploadInterrupted, UploadNotFound
from platform_core.uploads.models import Upload
from platform_core.uploads.multipart import FormStream
from platform_core.uploads.storage import ObjectStore, get_store


@raises(UploadNotFound)
async def get_current_upload(upload_id: uuid.UUID, session: TenantSessionDep) -> Upload:
    """The upload named in the path, in the request's tenant; 404 otherwise."""
    upload = await upload_repository.get(session, upload_id=upload_id)
    if upload is None:
        raise UploadNotFound
    return upload


@raises(StorageUnavailable)
async def get_object_store() -> ObjectStore:
    """The process's object store (503 when uploads are not configured)."""
    return get_store()


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise UploadInterrupted from exc


async def get_upload_form(request: Request) -> FormStream:
    """The request's multipart form, to be read as it arrives (415 unless multipart/form-data)."""
    return FormStream(request.headers.get("content-type"), _body(request))


def content_length(request: Request) -> int | None:
    """The request's declared body length, if it gave one."""
    value = request.headers.get("content-length", "")
    return int(value) if value.isdigit() else None


CurrentUpload = Annotated[Upload, Depends(get_current_upload)]
StoreDep = Annotated[ObjectStore, Depends(get_object_store)]
UploadForm = Annotated[FormStream, Depends(get_upload_form)]
