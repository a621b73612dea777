"""Upload rules: quota reservations, verification of what was stored, signed links. Never commits.

A file goes straight from the client to the object storage: `create_upload` reserves its declared
size against the plan's storage (under a per-tenant lock) and returns a signed form that accepts
exactly that many bytes under the tenant's key prefix; `complete_upload` checks what the storage holds
and marks the upload stored. A reservation lapses with its link; the cleanup task removes the rest.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypeVar

import anyio
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from billing.dependencies import StorageLimitReached, check_storage
from platform_core.access.principal import Principal
from platform_core.audit import service as audit
from platform_core.audit.service import AuditAction
from platform_core.kernel import events
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import enqueue_async
from platform_core.kernel.paging import PageParams
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.exceptions import (
    ContentTypeNotAllowed,
    UploadContentTypeMismatch,
    UploadNotFound,
    UploadNotReceived,
    UploadSizeMismatch,
)
from platform_core.uploads.models import Upload, UploadStatus
from platform_core.uploads.schemas import (
    UploadCreate,
    UploadCreated,
    UploadDetail,
    UploadLink,
    UploadPage,
    UploadRead,
    UploadState,
)
from platform_core.uploads.settings import S3Settings, get_s3_settings
from platform_core.uploads.storage import ObjectStore

T = TypeVar("T")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_PARAMETER_SEPARATOR = re.compile(r"\s*;\s*")
KEY_NAME_LENGTH = 100
# A pending upload is removed this long after its link expired: a large file sent just before the
# expiry may still be arriving, and its completion is still accepted until then.
PENDING_GRACE = timedelta(hours=24)
LATE_OBJECT_TASK = "uploads.delete_late_object"


async def in_thread(call: Callable[..., T], *args: object, **kwargs: object) -> T:
    """Run a blocking boto3 call in a worker thread."""
    return await anyio.to_thread.run_sync(functools.partial(call, *args, **kwargs))


def key_name(filename: str) -> str:
    """The file name as it appears in the object key: ASCII letters, digits, `.`, `-` and `_` only."""
    ascii_name = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode()
    safe = _UNSAFE.sub("_", ascii_name).strip("._-")
    if len(safe) > KEY_NAME_LENGTH:
        stem, _, extension = safe.rpartition(".")
        if stem and len(extension) <= 16:
            safe = f"{stem[: KEY_NAME_LENGTH - len(extension) - 1]}.{extension}"
        else:
            safe = safe[:KEY_NAME_LENGTH]
    return safe or "file"


def tenant_prefix(tenant_id: uuid.UUID | str) -> str:
    """The key prefix holding all of a tenant's objects."""
    return f"tenants/{tenant_id}/"


def object_key(tenant_id: uuid.UUID, upload_id: uuid.UUID, filename: str) -> str:
    """Where an upload is stored: under its tenant's prefix, in a folder named by its id."""
    return f"{tenant_prefix(tenant_id)}uploads/{upload_id}/{key_name(filename)}"


def media_type_key(value: str) -> str:
    """A media type in one spelling for comparisons: lower case, `; ` between its parameters."""
    return _PARAMETER_SEPARATOR.sub("; ", value.strip().lower())


def check_content_type(content_type: str, settings: S3Settings | None = None) -> None:
    """Refuse a media type outside S3_ALLOWED_CONTENT_TYPES (415)."""
    settings = settings or get_s3_settings()
    if not settings.allows(content_type):
        raise ContentTypeNotAllowed(
            f"Files of type `{content_type}` are not accepted here.",
            details={"content_type": content_type, "allowed_content_types": settings.allowed_content_types},
        )


def state_of(upload: Upload, now: datetime | None = None) -> UploadState:
    """Stored, pending, or expired (pending past its upload link)."""
    if upload.status == UploadStatus.STORED.value:
        return UploadState.STORED
    return UploadState.PENDING if upload.expires_at > (now or utcnow()) else UploadState.EXPIRED


def to_read(upload: Upload, now: datetime | None = None) -> UploadRead:
    """Render an upload."""
    return UploadRead(
        id=upload.id,
        filename=upload.filename,
        content_type=upload.content_type,
        size_bytes=upload.size_bytes,
        status=state_of(upload, now),
        created_at=upload.created_at,
        upload_expires_at=upload.expires_at,
        stored_at=upload.stored_at,
        uploaded_by_id=upload.uploaded_by_id,
    )


async def list_uploads(session: AsyncSession, *, state: UploadState | None, paging: PageParams) -> UploadPage:
    """A page of the tenant's uploads, newest first."""
    uploads, total = await upload_repository.list_page(session, state=state, paging=paging)
    now = utcnow()
    return UploadPage.of([to_read(u, now) for u in uploads], total, paging)


async def create_upload(
    session: AsyncSession, store: ObjectStore, tenant: TenantContext, principal: Principal, body: UploadCreate
) -> UploadCreated:
    """Reserve the file's size against the plan's storage and sign a form that uploads exactly it."""
    check_content_type(body.content_type)
    upload_id = uuid.uuid4()
    key = object_key(tenant.id, upload_id, body.filename)
    expires_at = utcnow() + timedelta(seconds=store.link_seconds)
    post = await in_thread(store.presign_post, key, size=body.size_bytes, content_type=body.content_type)
    # Held until the transaction ends, so the check and the insert are one step for this tenant.
    await upload_repository.lock_storage(session, tenant_id=tenant.id)
    usage = await upload_repository.usage(session)
    await check_storage(
        session, tenant, stored=usage.stored, reserved=usage.reserved, requested=body.size_bytes
    )
    upload = Upload(
        id=upload_id,
        filename=body.filename,
        content_type=body.content_type,
        size_bytes=body.size_bytes,
        key=key,
        status=UploadStatus.PENDING.value,
        expires_at=expires_at,
        uploaded_by_id=principal.user_id,
    )
    await upload_repository.create(session, upload=upload)
    link = UploadLink(url=post.url, fields=post.fields, expires_at=expires_at)
    return UploadCreated(**to_read(upload).model_dump(), upload=link)


async def get_upload(store: ObjectStore, upload: Upload) -> UploadDetail:
    """An upload with a signed download link once it is stored."""
    url, expires = None, None
    if upload.status == UploadStatus.STORED.value:
        expires = utcnow() + timedelta(seconds=store.link_seconds)
        url = await in_thread(store.presign_get, upload.key, filename=upload.filename)
    return UploadDetail(**to_read(upload).model_dump(), download_url=url, download_expires_at=expires)


async def complete_upload(
    session: AsyncSession, store: ObjectStore, tenant: TenantContext, upload: Upload
) -> UploadDetail:
    """Check the stored file against the declared size and media type and the quota, and mark the
    upload stored.

    Completing a stored upload again changes nothing. A file of another size or media type is deleted
    (422): a store that does not enforce the signed form's conditions would otherwise serve, say,
    `text/html` from an upload recorded as `image/png`. A completion that no longer fits the plan (its
    reservation lapsed, or the plan shrank) is 402 and its file is deleted too.
    """
    if upload.status == UploadStatus.STORED.value:
        return await get_upload(store, upload)
    stored = await in_thread(store.head, upload.key)  # before the lock: it is a network round trip
    if stored is None:
        raise UploadNotReceived
    size = stored.size
    if size != upload.size_bytes:
        await in_thread(store.delete, upload.key)
        raise UploadSizeMismatch(
            f"The uploaded file has {size} bytes, not the {upload.size_bytes} declared; it was discarded.",
            details={"declared_bytes": upload.size_bytes, "received_bytes": size},
        )
    if media_type_key(stored.content_type) != media_type_key(upload.content_type):
        await in_thread(store.delete, upload.key)
        raise UploadContentTypeMismatch(
            f"The uploaded file was sent as `{stored.content_type}`, not the `{upload.content_type}` "
            "declared; it was discarded.",
            details={
                "declared_content_type": upload.content_type,
                "received_content_type": stored.content_type,
            },
        )
    await upload_repository.lock_storage(session, tenant_id=tenant.id)
    locked = await upload_repository.get(session, upload_id=upload.id, lock=True)
    if locked is None:  # deleted (or cleaned up) meanwhile
        raise UploadNotFound
    if locked.status != UploadStatus.STORED.value:
        usage = await upload_repository.usage(session, exclude=locked.id)
        try:
            await check_storage(session, tenant, stored=usage.stored, reserved=usage.reserved, requested=size)
        except StorageLimitReached:
            await in_thread(store.delete, locked.key)
            raise
        locked.status = UploadStatus.STORED.value
        locked.size_bytes = size
        locked.stored_at = utcnow()
        await upload_repository.save(session, upload=locked)
        await events.record(
            session,
            "upload.completed",
            events.UploadCompletedData(
                id=locked.id, filename=locked.filename, content_type=locked.content_type, size=size
            ),
            tenant_id=tenant.id,
        )
    return await get_upload(store, locked)


async def delete_upload(
    session: AsyncSession, store: ObjectStore, principal: Principal, upload: Upload
) -> None:
    """Delete an upload's file and its row, which frees its quota at once."""
    details = {"filename": upload.filename, "size_bytes": upload.size_bytes, "status": upload.status}
    upload_id, key = upload.id, upload.key
    await upload_repository.delete(session, upload=upload)  # waits for a completion of it in progress
    await audit.record(
        session,
        AuditAction.UPLOAD_DELETED,
        principal.actor,
        target_type="upload",
        target_id=upload_id,
        details=details,
    )
    # Last: if the storage fails, the row stays (503); deleting a missing object succeeds, so a retry
    # after a failed commit works.
    await in_thread(store.delete, key)
    link_left = (upload.expires_at - utcnow()).total_seconds()
    if link_left > 0:
        # Its signed form still works until it expires: a file posted with it now would count against
        # nothing. Delete whatever is at the key once the form is dead.
        await enqueue_async(
            session, LATE_OBJECT_TASK, tenant_id=principal.tenant_id, key=key, delay_seconds=link_left + 60
        )


def delete_expired(
    session: Session, store: ObjectStore, *, now: datetime | None = None, batch: int = 500
) -> int:
    """Remove pending uploads whose link expired more than PENDING_GRACE ago, and any file they got."""
    before = (now or utcnow()) - PENDING_GRACE
    removed = 0
    while True:
        expired = upload_repository.expired_pending(session, before=before, limit=batch)
        if not expired:
            return removed
        store.delete_many([u.key for u in expired])
        removed += upload_repository.delete_ids(session, ids=[u.id for u in expired])
        if len(expired) < batch:
            return removed
