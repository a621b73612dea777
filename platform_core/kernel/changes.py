"""Which lookups a change overtook: the bookkeeping the per-process caches of tenant data share.

A cache fills itself from the database and is emptied by notifications of changes. A lookup that a
change overtook while it read (the row it read may be the old one) must be answered but not cached.
Each change heard, of one tenant or of everything, gets the next number; a lookup notes the number it
started at and keeps its answer only if nothing concerning it was numbered since.
"""

from __future__ import annotations

import uuid


class ChangeLog:
    """Numbers the changes a cache hears, so a lookup can tell whether one overtook it."""

    __slots__ = ("_all_at", "_count", "_tenant_at")

    def __init__(self) -> None:
        self._count = 0
        self._tenant_at: dict[uuid.UUID, int] = {}
        self._all_at = 0

    def start(self) -> int:
        """The number a lookup starting now compares with when it ends."""
        return self._count

    def record(self, tenant_id: uuid.UUID | str | None) -> uuid.UUID | None:
        """Number a change of one tenant and return its id; None (no id, or not one) is a change of all."""
        self._count += 1
        try:
            key = None if tenant_id is None else uuid.UUID(str(tenant_id))
        except ValueError:
            key = None
        if key is None:
            self._all_at = self._count
            self._tenant_at.clear()  # every older mark is overtaken by this one
        else:
            self._tenant_at[key] = self._count
        return key

    def current(self, started: int, tenant_id: uuid.UUID) -> bool:
        """Whether no change of this tenant, nor of all, was numbered since `started`."""
        return self._all_at <= started and self._tenant_at.get(tenant_id, 0) <= started

    def quiet(self, started: int) -> bool:
        """Whether no change at all was numbered since `started` (what a cached miss needs)."""
        return self._count == started

    def all_changed_since(self, started: int) -> bool:
        """Whether everything was forgotten since `started`."""
        return self._all_at > started
