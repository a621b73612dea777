"""Direct uploads: a small file sent to the API in one multipart request and streamed to the storage.

The request's bytes go to the storage as they arrive, never all held: up to one part (PART_BYTES) in
memory, sent as an S3 multipart upload once the file passes it, or as one PUT when it does not. The
plan's storage is reserved before the first byte is read, like a signed form reserves it: a pending
row of the request's Content-Length (or of the cap, without one), committed under the tenant's
storage lock so a concurrent upload counts it. The row is stored with the real size at the end, or
removed, with whatever reached the storage, on any failure. While the file streams, the row points at
a key where nothing is ever written, so a completion of it finds no file (409) and cannot discard it.

This flow commits twice by design (the reservation must be visible to other requests while the body
streams); it does not use the request's session, and commits the stored row before responding.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

import anyio
from pydantic import ValidationError

from billing.dependencies import check_storage
from platform_core.access.principal import Principal
from platform_core.kernel import events
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.db.engines import Database
from platform_core.kernel.errors import Unprocessable
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.exceptions import FileTooLarge, MalformedForm, UploadNotFound
from platform_core.uploads.models import Upload, UploadStatus
from platform_core.uploads.multipart import FormStream, PartHeaders
from platform_core.uploads.schemas import DirectUploadFile, UploadDetail
from platform_core.uploads.service import check_content_type, get_upload, in_thread, object_key
from platform_core.uploads.settings import S3Settings
from platform_core.uploads.storage import ObjectStore

logger = logging.getLogger("platform.uploads")
# S3 takes parts of 5 MiB and more (but the last); this is what a request holds in memory at most.
PART_BYTES = 8 * 1024**2
# What a form adds around its file: boundaries and part headers. A Content-Length above the cap by
# more than this is refused before a byte is read.
FORM_OVERHEAD = 64 * 1024
RECEIVING = ".receiving"


class ObjectWriter:
    """Write one object from chunks as they arrive, holding at most one part in memory."""

    def __init__(self, store: ObjectStore, key: str, *, content_type: str) -> None:
        """Prepare to write `key`; nothing reaches the storage until a part is full or `close`."""
        self.store, self.key, self.content_type = store, key, content_type
        self._buffer = bytearray()
        self._multipart: str | None = None
        self._etags: list[str] = []
        self._written = False

    async def write(self, data: bytes) -> None:
        """Add bytes; send a part to the storage each time PART_BYTES have gathered."""
        self._buffer += data
        while len(self._buffer) >= PART_BYTES:
            with memoryview(self._buffer) as view:
                part = bytes(view[:PART_BYTES])  # one copy, not a bytearray slice and then bytes
            del self._buffer[:PART_BYTES]
            if self._multipart is None:
                self._multipart = await in_thread(
                    self.store.start_multipart, self.key, content_type=self.content_type
                )
            number = len(self._etags) + 1
            self._etags.append(
                await in_thread(self.store.upload_part, self.key, self._multipart, number, part)
            )

    async def close(self) -> None:
        """Make the object: one PUT for a file within a part, else send the last part and join them."""
        rest, self._buffer = bytes(self._buffer), bytearray()
        if self._multipart is None:
            await in_thread(self.store.put, self.key, rest, content_type=self.content_type)
        else:
            if rest:
                number = len(self._etags) + 1
                self._etags.append(
                    await in_thread(self.store.upload_part, self.key, self._multipart, number, rest)
                )
            await in_thread(self.store.complete_multipart, self.key, self._multipart, self._etags)
        self._written = True

    async def abort(self) -> None:
        """Leave nothing behind: drop the parts sent so far, or the object once made."""
        self._buffer = bytearray()
        if self._written:
            await in_thread(self.store.delete, self.key)
        elif self._multipart is not None:
            await in_thread(self.store.abort_multipart, self.key, self._multipart)


def _file_part(part: PartHeaders | None) -> DirectUploadFile:
    """The file part's name and media type, checked like a signed form's (422)."""
    if part is None or part.name != "file" or part.filename is None:
        raise MalformedForm("Send the file first, in a part named `file` that has a file name.")
    fields = {"filename": part.filename}
    if part.content_type:
        fields["content_type"] = part.content_type
    try:
        return DirectUploadFile.model_validate(fields)
    except ValidationError as exc:
        details = [
            {"loc": ["body", "file", *map(str, e["loc"])], "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise Unprocessable("The request is invalid.", details=details) from exc


def _too_large(limit: int) -> FileTooLarge:
    return FileTooLarge(
        f"The file is larger than the {limit} bytes a direct upload takes: use a signed upload "
        "(POST /api/v1/uploads) for larger files.",
        details={"max_bytes": limit},
    )


async def _reserve(db: Database, tenant: TenantContext, upload: Upload) -> None:
    """Commit the pending row holding the reservation, under the tenant's storage lock (402 if full)."""
    async with db.session(tenant.schema_name) as session:
        await upload_repository.lock_storage(session, tenant_id=tenant.id)
        usage = await upload_repository.usage(session)
        await check_storage(
            session, tenant, stored=usage.stored, reserved=usage.reserved, requested=upload.size_bytes
        )
        upload_repository.add(session, upload=upload)
        await session.commit()


async def _store(db: Database, tenant: TenantContext, upload_id: uuid.UUID, key: str, size: int) -> Upload:
    """Mark the reserved row stored with the file's real size, checking the plan again (402)."""
    async with db.session(tenant.schema_name) as session:
        await upload_repository.lock_storage(session, tenant_id=tenant.id)
        upload = await upload_repository.get(session, upload_id=upload_id, lock=True)
        if upload is None:  # deleted while it was being received
            raise UploadNotFound
        usage = await upload_repository.usage(session, exclude=upload_id)
        await check_storage(session, tenant, stored=usage.stored, reserved=usage.reserved, requested=size)
        upload.key, upload.size_bytes = key, size
        upload.status, upload.stored_at = UploadStatus.STORED.value, utcnow()
        await upload_repository.save(session, upload=upload)
        await events.record(
            session,
            "upload.completed",
            events.UploadCompletedData(
                id=upload.id, filename=upload.filename, content_type=upload.content_type, size=size
            ),
            tenant_id=tenant.id,
        )
        await session.commit()
        return upload


async def _release(db: Database, tenant: TenantContext, upload_id: uuid.UUID) -> None:
    """Remove the reservation of an upload that failed."""
    async with db.session(tenant.schema_name) as session:
        await upload_repository.delete_pending(session, upload_id=upload_id)
        await session.commit()


async def direct_upload(
    *,
    db: Database,
    store: ObjectStore,
    settings: S3Settings,
    tenant: TenantContext,
    principal: Principal,
    form: FormStream,
    content_length: int | None,
) -> UploadDetail:
    """Stream the form's file to the storage within the cap and the plan, and record it stored."""
    limit = settings.direct_upload_max_bytes
    if content_length is not None and content_length > limit + FORM_OVERHEAD:
        raise _too_large(limit)  # before reading a byte
    file = _file_part(await form.next_part())
    check_content_type(file.content_type, settings)
    upload_id = uuid.uuid4()
    key = object_key(tenant.id, upload_id, file.filename)
    reservation = Upload(
        id=upload_id,
        filename=file.filename,
        content_type=file.content_type,
        size_bytes=min(content_length, limit) if content_length is not None else limit,
        key=f"{key}{RECEIVING}",
        status=UploadStatus.PENDING.value,
        expires_at=utcnow() + timedelta(seconds=store.link_seconds),
        uploaded_by_id=principal.user_id,
    )
    await _reserve(db, tenant, reservation)
    writer = ObjectWriter(store, key, content_type=file.content_type)
    try:
        size = 0
        async for chunk in form.data():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit)
            await writer.write(chunk)
        if await form.next_part() is not None:
            raise MalformedForm("Send one part only: the file.")
        await writer.close()
        stored = await _store(db, tenant, upload_id, key, size)
    except BaseException:
        with anyio.CancelScope(shield=True):
            await _clean_up(db, tenant, upload_id, writer)
        raise
    return await get_upload(store, stored)


async def _clean_up(db: Database, tenant: TenantContext, upload_id: uuid.UUID, writer: ObjectWriter) -> None:
    """Undo a failed direct upload; log (not raise) a failure here, so the first error is the answer."""
    try:
        await _release(db, tenant, upload_id)
    except Exception:
        logger.exception("could not remove the reservation of failed upload %s", upload_id)
    try:
        await writer.abort()
    except Exception:
        # The orphan sweep deletes an object without a row; a lifecycle rule, a multipart upload.
        logger.exception("could not remove what failed upload %s sent to the storage", upload_id)
