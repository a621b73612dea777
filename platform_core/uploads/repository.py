"""All upload queries. The session is bound to one tenant's schema; no query here names a schema."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel.db.base import IdMixin
from platform_core.kernel.paging import PageParams
from platform_core.kernel.repository import (
    advisory_xact_lock,
    fetch_page,
    get_by_id,
    insert,
    remove,
    rowcount,
    write,
)
from platform_core.uploads.models import Upload, UploadStatus
from platform_core.uploads.schemas import UploadState

_STORED = Upload.status == UploadStatus.STORED.value
_PENDING = Upload.status == UploadStatus.PENDING.value


@dataclass(frozen=True, slots=True)
class Usage:
    """Bytes of stored files, and bytes reserved by pending uploads whose link has not expired."""

    stored: int
    reserved: int


async def lock_storage(session: AsyncSession, *, tenant_id: uuid.UUID) -> None:
    """One quota decision at a time per tenant, until the transaction ends: two uploads cannot both
    take the last free bytes."""
    await advisory_xact_lock(session, key=f"storage:{tenant_id}")


def _state(state: UploadState) -> list[ColumnElement[bool]]:
    if state is UploadState.STORED:
        return [_STORED]
    if state is UploadState.PENDING:
        return [_PENDING, Upload.expires_at > func.now()]
    return [_PENDING, Upload.expires_at <= func.now()]


async def usage(session: AsyncSession, *, exclude: uuid.UUID | None = None) -> Usage:
    """The tenant's stored and reserved bytes (leaving out one upload, when asked), in one query."""
    stored = func.coalesce(func.sum(Upload.size_bytes).filter(_STORED), 0)
    live = func.coalesce(func.sum(Upload.size_bytes).filter(*_state(UploadState.PENDING)), 0)
    stmt = select(stored, live)
    if exclude is not None:
        stmt = stmt.where(Upload.id != exclude)
    row = (await session.execute(stmt)).one()
    return Usage(stored=int(row[0]), reserved=int(row[1]))


async def storage_used(session: AsyncSession) -> int:
    """Bytes of the tenant's stored files."""
    total = await session.scalar(select(func.coalesce(func.sum(Upload.size_bytes), 0)).where(_STORED))
    return int(total or 0)


async def list_page(
    session: AsyncSession, *, state: UploadState | None, paging: PageParams
) -> tuple[list[Upload], int]:
    """One page of uploads, newest first, and the total, in one round trip."""
    conditions = _state(state) if state else []
    stmt = select(Upload).where(*conditions).order_by(Upload.created_at.desc(), Upload.id.desc())
    return await fetch_page(session, stmt, paging=paging)


async def get(session: AsyncSession, *, upload_id: uuid.UUID, lock: bool = False) -> Upload | None:
    """An upload by id (locked, and read afresh, when asked)."""
    return await get_by_id(session, Upload, upload_id, lock=lock)


def add(session: AsyncSession, *, upload: Upload) -> None:
    """Stage a new upload (inserted with the next flush or commit)."""
    session.add(upload)


async def create(session: AsyncSession, *, upload: Upload) -> Upload:
    """Insert a new upload now, with its timestamps read back."""
    return await insert(session, upload)


async def save(session: AsyncSession, *, upload: Upload) -> Upload:
    """Write an upload's pending changes now and read it back."""
    return await write(session, upload)


async def delete(session: AsyncSession, *, upload: Upload) -> None:
    """Delete an upload's row now."""
    await remove(session, upload)


async def delete_pending(session: AsyncSession, *, upload_id: uuid.UUID) -> None:
    """Delete an upload's row if it is still pending (a stored upload stays)."""
    await session.execute(sql_delete(Upload).where(Upload.id == upload_id, _PENDING))


def expired_pending(session: Session, *, before: datetime, limit: int) -> Sequence[Upload]:
    """Pending uploads whose link expired before `before`, locked (rows being completed are skipped)."""
    stmt = (
        select(Upload)
        .where(_PENDING, Upload.expires_at < before)
        .order_by(Upload.expires_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return session.scalars(stmt).all()


def delete_ids(session: Session, *, ids: Sequence[uuid.UUID]) -> int:
    """Delete uploads by id; return how many."""
    return rowcount(session.execute(sql_delete(Upload).where(Upload.id.in_(ids))))


# Called as (session, key) by the late-object task.
def get_by_key(session: Session, key: str) -> Upload | None:
    """The upload stored at an object key, if any."""
    return session.scalars(select(Upload).where(Upload.key == key)).first()


def existing_ids(session: Session, *, rows: type[IdMixin], ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Return which of `ids` a row of the tenant table `rows` has (any kind's table, for the orphan sweep)."""
    return set(session.scalars(select(rows.id).where(rows.id.in_(ids))))
