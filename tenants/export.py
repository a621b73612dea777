"""Export a tenant: its data as JSON Lines per table, an index of its files, optionally the files.

The archive (tar.gz) holds `manifest.json` (the tenant, its schema revision, row counts, what was
redacted), `tables/<table>.jsonl` for every tenant table in dependency order, `files.jsonl` (every
object under the tenant's storage prefix: key, size, last written) and, with `with_files`, the objects
themselves under `files/`. Secret hashes (passwords, tokens, API keys) are written as null: they are
of no use outside this platform and must not travel. Rows are read in one repeatable-read transaction,
so the tables agree with each other.

The files come from a `FileSource` that the caller passes in (the uploads object store): tenants does
not depend on the domain that owns the storage.
"""

from __future__ import annotations

import base64
import io
import json
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import IO, Any, Protocol

from sqlalchemy import Table
from sqlalchemy.orm import Session

from platform_core.kernel.context import TenantStatus
from platform_core.kernel.db.base import tenant_metadata, utcnow
from tenants import repository as tenant_repository
from tenants.exceptions import InvalidTenantState
from tenants.lifecycle import get_tenant
from tenants.models import Tenant

REDACTED = frozenset({"password_hash", "secret_hash", "token_hash"})
FORMAT_VERSION = 1
_SPOOL_BYTES = 8 * 1024 * 1024  # a table larger than this is buffered on disk, not in memory


class FileSource(Protocol):
    """Where a tenant's files are read from (the object storage)."""

    def list_objects(self, prefix: str) -> list[tuple[str, datetime]]:
        """Every object under `prefix`: its key and when it was last written."""
        ...

    def download(self, key: str, out: IO[bytes]) -> None:
        """Write the object's bytes to `out`."""
        ...


@dataclass
class ExportSummary:
    """What an export holds."""

    rows: dict[str, int] = field(default_factory=dict)
    files: int = 0
    file_bytes: int = 0
    files_included: bool = False


def _json_value(value: Any) -> Any:
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes | memoryview):
        return {"base64": base64.b64encode(bytes(value)).decode("ascii")}
    return value


def _add(archive: tarfile.TarFile, name: str, data: IO[bytes], size: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = size, int(time.time()), 0o600
    data.seek(0)
    archive.addfile(info, data)


def _add_bytes(archive: tarfile.TarFile, name: str, payload: bytes) -> None:
    _add(archive, name, io.BytesIO(payload), len(payload))


def _rows(session: Session, table: Table) -> Iterator[dict[str, Any]]:
    for row in tenant_repository.stream_table(session, table=table):
        yield {k: None if k in REDACTED else _json_value(v) for k, v in row.items()}


def exportable_tenant(session: Session, *, slug: str) -> Tenant:
    """The live tenant with this slug, if it has data to export; InvalidTenantState otherwise."""
    tenant = get_tenant(session, slug=slug)
    if tenant.status in (TenantStatus.DELETED, TenantStatus.PROVISIONING):
        raise InvalidTenantState(f"A {tenant.status} tenant has no data to export.")
    return tenant


def write_export(
    session: Session,
    *,
    tenant: Tenant,
    out: IO[bytes],
    files: FileSource | None,
    with_files: bool = False,
) -> ExportSummary:
    """Write the tenant's export archive to `out` (a binary file opened for writing).

    `session` is bound to the tenant's schema and has not begun: the rows are read in one
    repeatable-read transaction (it only reads; the caller closes the session). Without `files`, the
    archive has no files and an empty index.
    """
    summary = ExportSummary(files_included=with_files and files is not None)
    with tarfile.open(fileobj=out, mode="w:gz") as archive:
        session.connection(execution_options={"isolation_level": "REPEATABLE READ"})  # one snapshot
        for table in tenant_metadata().sorted_tables:
            with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                count = 0
                for row in _rows(session, table):
                    spool.write(json.dumps(row, ensure_ascii=False).encode() + b"\n")
                    count += 1
                _add(archive, f"tables/{table.name}.jsonl", spool, spool.tell())
            summary.rows[table.name] = count
        objects = files.list_objects(f"tenants/{tenant.id}/") if files is not None else []
        index = b"".join(
            json.dumps({"key": key, "last_modified": written.isoformat()}).encode() + b"\n"
            for key, written in objects
        )
        _add_bytes(archive, "files.jsonl", index)
        summary.files = len(objects)
        if summary.files_included and files is not None:
            prefix = f"tenants/{tenant.id}/"
            for key, _ in objects:
                with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
                    files.download(key, spool)
                    size = spool.tell()
                    _add(archive, f"files/{key[len(prefix) :]}", spool, size)
                summary.file_bytes += size
        manifest = {
            "format_version": FORMAT_VERSION,
            "exported_at": utcnow().isoformat(),
            "tenant": {
                "id": str(tenant.id),
                "slug": tenant.slug,
                "name": tenant.name,
                "status": tenant.status,
                "schema_revision": tenant.schema_revision,
                "created_at": tenant.created_at.isoformat() if tenant.created_at else None,
            },
            "rows": summary.rows,
            "files": {"count": summary.files, "included": summary.files_included},
            "redacted_columns": sorted(REDACTED),
        }
        _add_bytes(archive, "manifest.json", json.dumps(manifest, indent=2).encode())
    return summary
