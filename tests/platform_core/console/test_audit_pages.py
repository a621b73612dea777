"""The console's audit log over HTTP: filters by action, actor, target and days, paging, invalid
filters shown, who may read it, and only the workspace's own events."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from platform_core.audit.models import AuditEvent
from tests.platform_core.console.data_support import error_of, signed_in_as

START = datetime(2026, 3, 1, 23, 0, tzinfo=UTC)


async def _add(db, tenant, *specs: tuple[int, str, uuid.UUID | None, str | None]) -> None:
    """Events `(minutes after START, action, actor id, target id)`."""
    rows = [
        AuditEvent(
            id=uuid.uuid4(),
            occurred_at=START + timedelta(minutes=minutes),
            action=action,
            actor_type="user" if actor else "system",
            actor_id=actor,
            actor_label=f"person-{str(actor)[:4]}" if actor else None,
            target_type="item" if target else None,
            target_id=target,
            ip="10.0.0.1",
            request_id=f"req-{minutes}",
            details={"n": minutes},
        )
        for minutes, action, actor, target in specs
    ]
    async with db.session(tenant.schema_name) as session:
        session.add_all(rows)
        await session.commit()


def _details(html: str) -> list[int]:
    """The `n` of each listed event, in the page's order."""
    return [int(n) for n in re.findall(r'<span class="tag">n: (\d+)</span>', html)]


@pytest.fixture
async def owner(app, db, tenant_a) -> Any:
    """Alpha's owner, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "owner") as client:
        yield client


@pytest.fixture
async def people(db, tenant_a) -> dict[str, uuid.UUID]:
    """Events of alpha on 1 and 2 March 2026 (START is 23:00 on the 1st), by two people."""
    alice, bob = uuid.uuid4(), uuid.uuid4()
    await _add(
        db,
        tenant_a,
        (0, "upload.deleted", alice, "i-1"),
        (30, "role.created", bob, None),
        (59, "upload.deleted", bob, "i-2"),
        (61, "upload.deleted", alice, "i-1"),  # 2 March, 00:01
        (90, "tenant.settings_changed", None, None),
    )
    return {"alice": alice, "bob": bob}


async def test_the_log_filters_by_action_actor_target_and_days(owner, people):
    everything = await owner.get("/audit?until=2026-03-31")
    assert everything.status_code == 200
    assert _details(everything.text) == [90, 61, 59, 30, 0]  # newest first
    assert _details((await owner.get("/audit?action=upload.deleted&until=2026-03-31")).text) == [61, 59, 0]
    by_alice = await owner.get(f"/audit?actor_id={people['alice']}&until=2026-03-31")
    assert _details(by_alice.text) == [61, 0]
    assert f"By person-{str(people['alice'])[:4]}" in by_alice.text
    assert _details((await owner.get("/audit?target_type=item&target_id=i-1&until=2026-03-31")).text) == [
        61,
        0,
    ]
    # A day counts whole: until the 1st is up to 23:59:59.999999, from the 2nd is from midnight.
    assert _details((await owner.get("/audit?since=2026-03-01&until=2026-03-01")).text) == [59, 30, 0]
    assert _details((await owner.get("/audit?since=2026-03-02&until=2026-03-02")).text) == [90, 61]
    # The API's own date-times are taken too.
    assert _details(
        (await owner.get("/audit?since=2026-03-01T23:30:00Z&until=2026-03-02T00:29:00Z")).text
    ) == [
        61,
        59,
        30,
    ]


async def test_the_links_of_a_row_filter_the_log(owner, people):
    html = (await owner.get("/audit?until=2026-03-31")).text
    assert f'href="/audit?until=2026-03-31&amp;actor_id={people["bob"]}"' in html
    assert 'href="/audit?until=2026-03-31&amp;action=role.created"' in html
    assert 'href="/audit?until=2026-03-31&amp;target_type=item&amp;target_id=i-2"' in html


async def test_the_log_pages(owner, people):
    first = await owner.get("/audit?until=2026-03-31&page_size=2")
    assert _details(first.text) == [90, 61]
    assert "Page 1 of 3 · 5 in all" in first.text
    assert 'href="/audit?until=2026-03-31&amp;page_size=2&amp;page=2" rel="next"' in first.text
    assert _details((await owner.get("/audit?until=2026-03-31&page_size=2&page=3")).text) == [0]


async def test_invalid_filters_are_shown_and_left_out(owner, people):
    backwards = await owner.get("/audit?since=2026-03-02&until=2026-03-01")
    assert backwards.status_code == 422
    assert "The start of the range must not be later than its end." in backwards.text
    bad = await owner.get("/audit?since=yesterday&actor_id=nobody&until=2026-03-31")
    assert bad.status_code == 422
    assert error_of(bad.text, "since")
    assert error_of(bad.text, "actor_id")
    assert _details(bad.text) == [90, 61, 59, 30, 0]


async def test_a_member_without_audit_read_gets_no_link_and_the_403_page(app, db, tenant_a):
    async with signed_in_as(app, db, tenant_a, "member") as member:
        assert 'href="/audit"' not in (await member.get("/")).text
        refused = await member.get("/audit")
    assert refused.status_code == 403
    assert "You cannot open this page" in refused.text


async def test_only_the_workspaces_own_events_are_listed(owner, db, tenant_b, people):
    await _add(db, tenant_b, (5, "role.created", uuid.uuid4(), None))
    assert 5 not in _details((await owner.get("/audit?until=2026-03-31")).text)
