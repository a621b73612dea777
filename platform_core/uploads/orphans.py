"""Objects under a tenant's storage prefix that no row refers to, removed once they are old enough.

They happen: a pending upload deleted while its file was still being sent, a report job that wrote its
file and then rolled back. The layout is `tenants/<tenant>/uploads/<upload id>/<name>` and
`tenants/<tenant>/reports/<report id>/<name>`; anything else under the prefix is left alone.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from platform_core.kernel.db.base import utcnow
from platform_core.reports.models import Report
from platform_core.uploads.models import Upload
from platform_core.uploads.service import tenant_prefix
from platform_core.uploads.storage import ObjectStore

# Younger objects may belong to a row not committed yet (an upload in flight, a report being built).
ORPHAN_AGE = timedelta(hours=24)
_OWNERS: dict[str, type[Upload] | type[Report]] = {"uploads": Upload, "reports": Report}


def delete_orphans(
    session: Session, store: ObjectStore, tenant_id: uuid.UUID | str, *, now: datetime | None = None
) -> int:
    """Delete the tenant's objects older than ORPHAN_AGE that no upload or report row refers to."""
    prefix = tenant_prefix(tenant_id)
    before = (now or utcnow()) - ORPHAN_AGE
    candidates: dict[str, dict[uuid.UUID, list[str]]] = {kind: {} for kind in _OWNERS}
    for key, written in store.list_objects(prefix):
        kind, _, rest = key[len(prefix) :].partition("/")
        owner_id, _, _ = rest.partition("/")
        if kind not in _OWNERS or written >= before:
            continue
        try:
            candidates[kind].setdefault(uuid.UUID(owner_id), []).append(key)
        except ValueError:
            continue
    orphaned: list[str] = []
    for kind, by_id in candidates.items():
        if not by_id:
            continue
        model = _OWNERS[kind]
        known = set(session.scalars(select(model.id).where(model.id.in_(list(by_id)))))
        orphaned.extend(key for owner, keys in by_id.items() if owner not in known for key in keys)
    store.delete_many(orphaned)
    return len(orphaned)
