"""Upload errors."""

from __future__ import annotations

from platform_core.kernel.errors import (
    AppError,
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
)


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


class UploadContentTypeMismatch(Unprocessable):
    """The stored file is not of the media type that was declared; it has been discarded."""

    code = "upload_content_type_mismatch"


class NotAForm(AppError):
    """A direct upload whose body is not a multipart/form-data form."""

    status_code = 415
    code = "unsupported_media_type"
    message = "Send the file as multipart/form-data, in a part named `file`."


class MalformedForm(Unprocessable):
    """A direct upload whose form is cut short, malformed, or not one `file` part."""

    message = "The body is not a well-formed multipart/form-data form."


class ContentTypeNotAllowed(AppError):
    """The file's media type is not one the platform accepts (S3_ALLOWED_CONTENT_TYPES)."""

    status_code = 415
    code = "content_type_not_allowed"


class FileTooLarge(AppError):
    """A direct upload passed S3_DIRECT_UPLOAD_MAX_BYTES; nothing of it was kept."""

    status_code = 413
    code = "file_too_large"


class UploadInterrupted(BadRequest):
    """The client went away before it had sent the whole file; nothing of it was kept."""

    code = "upload_interrupted"
    message = "The upload was interrupted before the whole file arrived; nothing was stored."


class StorageUnavailable(ServiceUnavailable):
    """The object storage is not configured or did not answer."""

    code = "storage_unavailable"
    message = "File storage is not available right now; try again later."
