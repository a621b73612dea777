"""The job page follows its job live: a realtime ticket for the page's script, behind the page's gate."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from platform_core.jobs.models import Job
from platform_core.realtime import tickets
from tests.conftest import client_for, host_of
from tests.factories import create_role, create_user
from tests.platform_core.console.data_support import signed_in_as, token
from tests.platform_core.console.support import console_sign_in


@pytest.fixture
async def owner(app, db, tenant_a) -> Any:
    """Alpha's owner, signed in to the console."""
    async with signed_in_as(app, db, tenant_a, "owner") as client:
        yield client
    await app.state.realtime_hub.redis.aclose()


async def _job(db, tenant, user_id: uuid.UUID | None) -> Job:
    job = Job(
        id=uuid.uuid4(), type="report.items_csv", status="running", progress=10, params={}, user_id=user_id
    )
    async with db.session(tenant.schema_name) as session:
        session.add(job)
        await session.commit()
    return job


async def test_the_users_own_job_page_gets_a_ticket_for_its_socket(app, owner, db, tenant_a):
    job = await _job(db, tenant_a, owner.user.id)
    page = await owner.get(f"/jobs/{job.id}")
    assert f'data-job-live="/jobs/{job.id}/live"' in page.text
    answer = await owner.post(f"/jobs/{job.id}/live", data={"csrf_token": await token(owner)})
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert (body["channel"], body["job_id"]) == ("jobs", str(job.id))
    claims = await tickets.claim(app.state.realtime_hub.redis, body["ticket"])
    assert claims is not None
    assert (claims.tenant_id, claims.user_id, claims.kind) == (str(tenant_a.id), str(owner.user.id), "user")
    assert claims.session_id is not None  # the console session: signing out ends the socket too


async def test_someone_elses_job_page_polls_and_needs_the_csrf_token(owner, db, tenant_a):
    job = await _job(db, tenant_a, uuid.uuid4())
    page = await owner.get(f"/jobs/{job.id}")
    assert page.status_code == 200
    assert "data-job-live" not in page.text
    assert (await owner.post(f"/jobs/{job.id}/live", data={})).status_code == 403


async def test_another_tenants_job_is_the_404_page(owner, db, tenant_b):
    other = await _job(db, tenant_b, None)
    refused = await owner.post(f"/jobs/{other.id}/live", data={"csrf_token": await token(owner)})
    assert refused.status_code == 404


async def test_without_jobs_read_there_is_no_ticket(app, db, tenant_a):
    role = await create_role(db, tenant_a, "no-jobs", ["items:read"])
    user = await create_user(db, tenant_a, role_id=role.id)
    job = await _job(db, tenant_a, user.id)
    async with client_for(app, host_of(tenant_a)) as client:
        assert (await console_sign_in(client, user.email)).status_code == 303
        refused = await client.post(f"/jobs/{job.id}/live", data={"csrf_token": await token(client)})
        assert refused.status_code == 403
    await app.state.realtime_hub.redis.aclose()
