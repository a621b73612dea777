"""FastAPI dependencies for uploads: the upload named in the path, and the object store."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends

from platform_core.errors import raises
from platform_core.tenancy import TenantSessionDep
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.exceptions import StorageUnavailable, UploadNotFound
from platform_core.uploads.models import Upload
from platform_core.uploads.storage import ObjectStore, get_store


@raises(UploadNotFound)
async def get_current_upload(upload_id: uuid.UUID, session: TenantSessionDep) -> Upload:
    """The upload named in the path, in the request's tenant; 404 otherwise."""
    upload = await upload_repository.get(session, upload_id)
    if upload is None:
        raise UploadNotFound
    return upload


@raises(StorageUnavailable)
async def get_object_store() -> ObjectStore:
    """The process's object store (503 when uploads are not configured)."""
    return get_store()


CurrentUpload = Annotated[Upload, Depends(get_current_upload)]
StoreDep = Annotated[ObjectStore, Depends(get_object_store)]
