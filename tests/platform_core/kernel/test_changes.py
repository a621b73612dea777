"""The change log the tenant caches share: which lookups a change overtook."""

from __future__ import annotations

import uuid

from platform_core.kernel.changes import ChangeLog


def test_a_change_of_one_tenant_overtakes_only_its_own_lookups():
    log, a, b = ChangeLog(), uuid.uuid4(), uuid.uuid4()
    started = log.start()
    assert log.record(str(a)) == a
    assert not log.current(started, a)
    assert log.current(started, b)
    assert not log.quiet(started)  # a cached miss may be the changed tenant's new name
    assert log.current(log.start(), a)  # a lookup that starts after the change is current


def test_forgetting_everything_overtakes_every_lookup_begun_before_it():
    log, a = ChangeLog(), uuid.uuid4()
    log.record(a)
    started = log.start()
    assert log.record(None) is None
    assert log.record("not an id") is None
    assert not log.current(started, a)
    assert log.all_changed_since(started)
    later = log.start()
    assert log.current(later, a)
    assert log.quiet(later)
    assert not log.all_changed_since(later)
