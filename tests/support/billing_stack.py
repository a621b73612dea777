"""The platform with its billing as real processes, for tests that follow signed webhooks end to end.

localstripe (with localstripe_plus) behind the stand-in, an SMTP sink, the API under uvicorn, the outbox
relay and a billing worker, with the platform's webhook registered and the plans synced. Tenants are
reached as `<slug>.localhost:<api port>`, which is also what TENANT_URL_TEMPLATE makes of their links.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import stripe
from sqlalchemy import delete

from billing.catalog import get_catalog
from billing.models import BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings
from billing.stripe_client import make_client
from platform_core.access.permissions import builtin_role_id
from platform_core.devstack.stripe_servers import local_stripe, register_webhook
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, Settings
from tests.factories import UserFactory, access_token
from tests.support.processes import ApiServer, WorkerProcess, wait_until
from tests.support.tenants import TenantOps
from workers.email.sink import MailSink


class Stack:
    """The running platform and its Stripe-compatible server, as a test sees them."""

    def __init__(self, api: ApiServer, stripe_client: stripe.StripeClient, api_base: str, mail: Path) -> None:
        self.api = api
        self.stripe = stripe_client
        self.api_base = api_base  # the stand-in's URL: STRIPE_API_BASE, and where its pages are
        self.mail = mail

    def tenant_url(self, slug: str, path: str = "") -> str:
        """Where a browser reaches a tenant of this API (what TENANT_URL_TEMPLATE makes of it)."""
        return f"http://{slug}.localhost:{self.api.port}{path}"


def _env(settings: Settings, api_base: str, smtp_port: int, api_key: str, secret: str) -> dict[str, str]:
    prefixes = ("CELERY_", "SMTP_", "OUTBOX_", "STRIPE_", "BILLING_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": "localhost",  # the webhook URL is http://localhost:<port>, the apex
            "JWT_KEYS": settings.signing_keys_spec,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "console",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "STRIPE_API_KEY": api_key,
            "STRIPE_API_BASE": api_base,
            "STRIPE_WEBHOOK_SECRET": secret,
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@contextlib.contextmanager
def billing_stack(
    settings: Settings,
    sync_db: Database,
    workdir: Path,
    *,
    api_key: str,
    extra_env: dict[str, str] | None = None,
) -> Iterator[Stack]:
    """Stripe-compatible server, mail sink, API, relay and worker, with the webhook registered."""
    secret = f"whsec_{uuid.uuid4().hex}"
    with local_stripe(workdir / "stripe") as api_base, MailSink(workdir / "mail") as sink:
        client = make_client(BillingSettings(stripe_api_key=api_key, stripe_api_base=api_base))
        with sync_db.sync_session() as session, session.begin():
            session.execute(delete(BillingPlan))
        with sync_db.sync_session() as session, session.begin():
            sync_plans(session, client, get_catalog())
        env = {**_env(settings, api_base, sink.port, api_key, secret), **(extra_env or {})}
        relay = subprocess.Popen(
            [sys.executable, "-m", "platform_core.cli.main", "relay"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(workdir / "relay.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(env, "billing", workdir / "worker.log")
        api = ApiServer(env, workdir / "api.log")
        api.env["TENANT_URL_TEMPLATE"] = f"http://{{slug}}.localhost:{api.port}"
        try:
            with api:
                register_webhook(api_base, f"http://localhost:{api.port}/webhooks/stripe", secret)
                yield Stack(api, client, api_base, workdir / "mail")
        finally:
            worker.stop()
            relay.terminate()
            relay.wait(10)


def tenant_with_owner(
    settings: Settings, sync_db: Database, tenant_service: TenantOps, prefix: str
) -> tuple[Any, Any, str]:
    """A new tenant (slug `<prefix>-...`), its owner, and an access token of the owner."""
    tenant = tenant_service.create(slug=f"{prefix}-{uuid.uuid4().hex[:8]}", name=prefix.title())
    user = UserFactory.build(role_id=builtin_role_id("owner"))
    with sync_db.sync_session(tenant.schema_name) as session, session.begin():
        session.add(user)
    return tenant, user, access_token(settings, tenant, user.id)


def billing_until(api: httpx.Client, check: Callable[[dict[str, Any]], bool], what: str) -> dict[str, Any]:
    """Poll GET /api/v1/billing until `check` holds (the webhook, relay and worker take a moment)."""
    seen: dict[str, Any] = {}

    def ready() -> bool:
        nonlocal seen
        seen = api.get("/api/v1/billing").json()
        return check(seen)

    try:
        wait_until(ready, timeout=60, interval=0.2)
    except AssertionError:
        raise AssertionError(f"the tenant never became {what}; last seen: {seen}") from None
    return seen
