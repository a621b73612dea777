"""Objects under a tenant's storage prefix that no row refers to, removed once they are old enough.

They happen: a pending upload deleted while its file was still being sent, a report job that wrote its
file and then rolled back. A kind of object lives under `tenants/<tenant>/<kind>/<row id>/<name>`
(`uploads/`, `reports/`); each domain sweeps its own kind with the table of its rows, so uploads knows
nothing of the others. Anything else under the prefix is left alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from platform_core.kernel.db.base import IdMixin, utcnow
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.service import tenant_prefix
from platform_core.uploads.storage import ObjectStore

# Younger objects may belong to a row not committed yet (an upload in flight, a report being built).
ORPHAN_AGE = timedelta(hours=24)


def delete_orphans(
    session: Session,
    store: ObjectStore,
    tenant_id: uuid.UUID | str,
    *,
    kind: str,
    rows: type[IdMixin],
    now: datetime | None = None,
) -> int:
    """Delete the tenant's `kind` objects older than ORPHAN_AGE whose id no row of `rows` has.

    `session` is bound to the tenant's schema; `rows` is the tenant table whose ids name the objects.
    """
    prefix = f"{tenant_prefix(tenant_id)}{kind}/"
    before = (now or utcnow()) - ORPHAN_AGE
    candidates: dict[uuid.UUID, list[str]] = {}
    for key, written in store.list_objects(prefix):
        owner_id, _, _ = key[len(prefix) :].partition("/")
        if written >= before:
            continue
        try:
            candidates.setdefault(uuid.UUID(owner_id), []).append(key)
        except ValueError:
            continue
    if not candidates:
        return 0
    known = upload_repository.existing_ids(session, rows=rows, ids=list(candidates))
    orphaned = [key for owner, keys in candidates.items() if owner not in known for key in keys]
    store.delete_many(orphaned)
    return len(orphaned)
