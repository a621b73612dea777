"""Schema-driven fuzzing: every operation of each host's document, against the API under uvicorn.

Schemathesis generates requests from the document the server itself serves on that host, signed in
as a real owner of a real tenant (or a real operator), and fails on any 5xx or any answer the document
does not describe (status, content type, headers, body schema). The number of examples per operation is
bounded so the pass costs about a minute.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import delete

from billing.catalog import get_catalog
from billing.models import BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings
from billing.stripe_client import make_client
from platform_core.access.permissions import builtin_role_id
from platform_core.devstack.stripe_servers import local_stripe
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, Settings
from platform_core.operators import service as operator_service
from tests.conftest import _context
from tests.factories import UserFactory, access_token
from tests.support.processes import ApiServer
from tests.support.tenants import TenantOps

EXAMPLES = 8  # per operation: about 400 requests for the tenant document
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


STRIPE_KEY = "sk_test_platform"


@pytest.fixture(scope="module")
def server(
    settings: Settings, sync_db: Database, s3_server: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiServer]:
    """The API under uvicorn on this worker's database, with S3 (moto) and Stripe (localstripe, plans
    synced), so no route answers 503 for want of a service."""
    stripe_base = local_stripe(tmp_path_factory.mktemp("stripe"))
    with stripe_base as api_base:
        client = make_client(BillingSettings(stripe_api_key=STRIPE_KEY, stripe_api_base=api_base))
        with sync_db.sync_session() as session, session.begin():
            session.execute(delete(BillingPlan))
            sync_plans(session, client, get_catalog())
        yield from _serve(settings, tmp_path_factory, {**s3_server, "STRIPE_API_BASE": api_base})


def _serve(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory, extra: dict[str, str]
) -> Iterator[ApiServer]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CELERY_", "STRIPE_", "S3_"))}
    env.update(extra)
    env.update(
        {
            "STRIPE_API_KEY": STRIPE_KEY,
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": settings.base_domain,
            "JWT_KEYS": settings.signing_keys_spec,
            "LOG_FORMAT": "console",
            "PYTHONPATH": str(PROJECT_ROOT),
        }
    )
    log: Path = tmp_path_factory.mktemp("fuzz") / "api.log"
    with ApiServer(env, log) as api:
        yield api


def fuzz(server: ApiServer, host: str, credentials: Callable[[], dict[str, str]]) -> list[str]:
    """Run every operation of `host`'s document; return the failures, one line each."""
    document = httpx.get(f"{server.url}/openapi.json", headers={"Host": host}, timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    failures: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            case.call_and_validate(
                base_url=server.url, headers={"Host": host, **credentials()}, checks=CHECKS, timeout=30
            )

        try:
            run()
        except (
            Exception,
            BaseExceptionGroup,
        ) as exc:  # each failing operation is reported, then the test fails
            failures.append(f"{operation.label}: {str(exc)[:2000]}")
    return failures


def test_tenant_document(server, settings, sync_db: Database, tenant_service: TenantOps):
    tenant = tenant_service.create(slug=f"fz{uuid.uuid4().hex[:10]}", name="Fuzzed")
    owner = UserFactory.build(role_id=builtin_role_id("owner"))
    with sync_db.sync_session(tenant.schema_name) as session:
        session.add(owner)
        session.commit()
    context = _context(tenant)

    def signed_in() -> dict[str, str]:  # a fresh session each case: a fuzzed sign-out ends only that one
        return {"Authorization": f"Bearer {access_token(settings, context, owner.id)}"}

    assert fuzz(server, f"{tenant.slug}.{settings.base_domain}", signed_in) == []


def test_operator_document(server, settings, sync_db: Database):
    email, password = f"op-{uuid.uuid4().hex[:8]}@example.org", "operator-password-1"
    with sync_db.sync_session() as session:
        operator_service.create_operator(session, email=email, password=password)
        session.commit()
    host = f"{settings.operator_host}.{settings.base_domain}"
    answer = httpx.post(
        f"{server.url}/api/v1/operator/auth/token",
        json={"email": email, "password": password},
        headers={"Host": host},
        timeout=10,
    )
    token = answer.json()["access_token"]
    assert fuzz(server, host, lambda: {"Authorization": f"Bearer {token}"}) == []


def test_platform_document(server, settings):
    assert fuzz(server, settings.base_domain, dict) == []
