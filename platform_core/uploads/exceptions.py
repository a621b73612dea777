"""Upload errors."""

from __future__ import annotations

from platform_core.errors import Conflict, NotFound, ServiceUnavailable, Unprocessable


class UploadNotFound(NotFound):
    """No such upload in this tenant."""

    code = "upload_not_found"
    message = "Upload not found."


class UploadNotReceived(Conflict):
    """Completion was asked for, but the storage has no file for the upload (yet)."""

    code = "upload_not_received"
    message = "The file has not been uploaded: send it to the upload URL first, then complete."


class UploadSizeMismatch(Unprocessable):
    """The stored file is not the size that was declared; it has been discarded."""

    code = "upload_size_mismatch"


class StorageUnavailable(ServiceUnavailable):
    """The object storage is not configured or did not answer."""

    code = "storage_unavailable"
    message = "File storage is not available right now; try again later."
