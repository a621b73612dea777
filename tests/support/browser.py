"""The console in a real browser: the whole platform as processes, and Chromium driven by Playwright.

`ConsoleStack` runs what a user's clicks reach: the API under uvicorn, a Celery worker, the outbox
relay, an SMTP sink, an S3-compatible server and a Stripe-compatible server (localstripe behind the
stand-in) with the platform's webhook registered. Tenants live at `<slug>.localhost:<port>`, which
Chromium resolves to the loopback address itself, and emailed links point there.

`Watch` records, for every page of a test, the JavaScript errors it logged and the requests it made
to another host, so a test can assert there were none.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.sync_api import Browser, BrowserContext, Page
from sqlalchemy import delete

from billing.catalog import get_catalog
from billing.models import BillingPlan
from billing.plans_sync import sync_plans
from billing.settings import BillingSettings
from billing.stripe_client import make_client
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.devstack.stripe_servers import local_stripe, register_webhook
from platform_core.kernel.db.engines import Database
from platform_core.kernel.security.passwords import hash_password
from platform_core.kernel.settings import PROJECT_ROOT, Settings
from tests.support.chromium import chromium
from tests.support.processes import ApiServer, WorkerProcess, wait_until
from tests.support.tenants import TenantOps
from workers.email.sink import MailSink

STRIPE_KEY = "sk_test_console"
PASSWORD = "console-test-password"  # every user the browser tests create signs in with it
MAIL_DEADLINE = 30.0


@dataclass
class ConsoleStack:
    """The running platform as a browser test reaches it."""

    api: ApiServer
    mail_dir: Path
    stripe_api_base: str
    s3_endpoint: str
    sync_db: Database
    tenant_ops: TenantOps
    settings: Settings

    def url(self, slug: str, path: str = "/") -> str:
        """The URL of a path on a tenant's host."""
        return f"http://{slug}.localhost:{self.api.port}{path}"

    def operator_url(self, path: str = "/") -> str:
        """The URL of a path on the operator host."""
        return f"http://{self.settings.operator_host}.localhost:{self.api.port}{path}"

    def new_tenant(self, *, name: str = "Acme", plan: str | None = None) -> Any:
        """A new tenant with an owner `owner_email(slug)` (password PASSWORD); returns its registry row."""
        slug = f"t{uuid.uuid4().hex[:10]}"
        tenant = self.tenant_ops.create(slug=slug, name=name)
        self.add_user(tenant, owner_email(slug), role="owner")
        return tenant

    def add_user(self, tenant: Any, email: str, *, role: str = "member", verified: bool = True) -> User:
        """A user of `tenant` with PASSWORD and a built-in role."""
        from platform_core.kernel.db.base import utcnow

        user = User(
            email=email,
            full_name=email.split("@")[0].title(),
            password_hash=hash_password(PASSWORD),
            role_id=builtin_role_id(role),
            email_verified_at=utcnow() if verified else None,
        )
        with self.sync_db.sync_session(tenant.schema_name) as session, session.begin():
            session.add(user)
        return user

    def mail_to(self, address: str, subject_contains: str = "", *, after: int = 0) -> EmailMessage:
        """The newest message the sink got for `address` (waits for it); `after`: messages to skip."""

        def found() -> EmailMessage | None:
            matches = [m for m in self._messages() if address in str(m["To"])]
            matches = [m for m in matches if subject_contains.lower() in str(m["Subject"]).lower()]
            return matches[-1] if len(matches) > after else None

        message: EmailMessage = wait_until(found, timeout=MAIL_DEADLINE, interval=0.1)
        return message

    def mail_count(self, address: str) -> int:
        """How many messages the sink got for `address` so far."""
        return sum(1 for m in self._messages() if address in str(m["To"]))

    def _messages(self) -> list[EmailMessage]:
        paths = sorted(self.mail_dir.glob("*.eml"))
        return [message_from_bytes(p.read_bytes(), policy=policy.default) for p in paths]  # type: ignore[misc]


def owner_email(slug: str) -> str:
    """The address of the owner `ConsoleStack.new_tenant` creates."""
    return f"owner@{slug}.example.com"


def link_in(message: EmailMessage, path: str) -> str:
    """The first link of a message whose path is `path` (`/accept-invitation`, `/reset-password`, ...)."""
    import re

    body = message.get_body(preferencelist=("plain", "html"))
    text = body.get_content() if body is not None else ""
    for link in re.findall(r"""https?://[^\s"'<>]+""", text):
        if urlsplit(link).path == path:
            return str(link).rstrip(".,;)")
    raise AssertionError(f"no {path} link in the message: {text[:500]}")


def stack_environment(
    settings: Settings, *, api_port: int, stripe_base: str, smtp_port: int, s3: dict[str, str]
) -> dict[str, str]:
    """The environment every process of the stack runs with."""
    prefixes = ("CELERY_", "SMTP_", "OUTBOX_", "STRIPE_", "BILLING_", "S3_", "TENANT_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes)}
    env.update(
        {
            "ENV": "test",
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "BASE_DOMAIN": "localhost",
            "TENANT_URL_TEMPLATE": f"http://{{slug}}.{{base_domain}}:{api_port}",
            "JWT_KEYS": settings.signing_keys_spec,
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "console",
            "OUTBOX_SWEEP_SECONDS": "0.5",
            "WEBHOOK_ALLOW_PRIVATE_TARGETS": "true",  # the tests' webhook receivers listen on loopback
            "STRIPE_API_KEY": STRIPE_KEY,
            "STRIPE_API_BASE": stripe_base,
            "STRIPE_WEBHOOK_SECRET": f"whsec_console_{uuid.uuid4().hex}",
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(smtp_port),
            "PYTHONPATH": str(PROJECT_ROOT),
            "PYTHONUNBUFFERED": "1",
            **s3,
        }
    )
    return env


@contextmanager
def console_stack(
    settings: Settings, sync_db: Database, tenant_ops: TenantOps, s3: dict[str, str], workdir: Path
) -> Iterator[ConsoleStack]:
    """Start the whole platform for browser tests; stop it after."""
    with local_stripe(workdir / "stripe") as stripe_base, MailSink(workdir / "mail") as sink:
        client = make_client(BillingSettings(stripe_api_key=STRIPE_KEY, stripe_api_base=stripe_base))
        with sync_db.sync_session() as session, session.begin():
            session.execute(delete(BillingPlan))
        with sync_db.sync_session() as session, session.begin():
            sync_plans(session, client, get_catalog())
        api = ApiServer({}, workdir / "api.log")
        env = stack_environment(
            settings, api_port=api.port, stripe_base=stripe_base, smtp_port=sink.port, s3=s3
        )
        api.env = {**env, "METRICS_PORT": str(api.metrics_port)}
        relay = subprocess.Popen(
            [sys.executable, "-m", "platform_core.cli.main", "relay"],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=(workdir / "relay.log").open("wb"),
            stderr=subprocess.STDOUT,
        )
        worker = WorkerProcess(env, "console", workdir / "worker.log")
        try:
            with api:
                register_webhook(
                    stripe_base, f"http://localhost:{api.port}/webhooks/stripe", env["STRIPE_WEBHOOK_SECRET"]
                )
                yield ConsoleStack(
                    api=api,
                    mail_dir=workdir / "mail",
                    stripe_api_base=stripe_base,
                    s3_endpoint=s3.get("S3_ENDPOINT_URL", ""),
                    sync_db=sync_db,
                    # What these tenant operations email links to the stack's tenant hosts.
                    tenant_ops=TenantOps(
                        sync_db,
                        settings.model_copy(
                            update={"tenant_url_template": f"http://{{slug}}.localhost:{api.port}"}
                        ),
                    ),
                    settings=settings,
                )
        finally:
            worker.stop()
            relay.terminate()
            relay.wait(10)


@dataclass
class Watch:
    """What the pages of a browser context did that they should not have."""

    allowed_origins: set[str]
    errors: list[str] = field(default_factory=list)
    foreign_requests: list[str] = field(default_factory=list)

    def attach(self, context: BrowserContext) -> None:
        """Record the errors and foreign requests of every page the context opens."""
        context.on("page", self._page)

    def _page(self, page: Page) -> None:
        page.on("console", lambda msg: self._console(page, msg))
        page.on("pageerror", lambda exc: self.errors.append(f"{page.url}: {exc}"))
        page.on("request", lambda request: self._request(page, request))

    def _console(self, page: Page, message: Any) -> None:
        if message.type != "error":
            return
        # A page answered with its 4xx status (a form shown again with its errors, a 404 page) is
        # logged by Chromium as a failed load of the document itself: that is the page, not an error
        # of it. A failed load of anything else (a missing stylesheet) is kept.
        if message.text.startswith("Failed to load resource") and message.location.get("url") == page.url:
            return
        self.errors.append(f"{page.url}: {message.text}")

    def _request(self, page: Page, request: Any) -> None:
        if request.resource_type == "document" or request.url.startswith(("data:", "about:")):
            return  # a navigation: following a link or a redirect is not the page loading from elsewhere
        page_origin = _origin(page.url)
        origin = _origin(request.url)
        if origin != page_origin and origin not in self.allowed_origins:
            self.foreign_requests.append(f"{page.url} -> {request.url}")

    def assert_clean(self) -> None:
        """No JavaScript error was logged and no page loaded anything from another host."""
        assert self.errors == [], self.errors
        assert self.foreign_requests == [], self.foreign_requests


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@contextmanager
def browser_session() -> Iterator[Browser]:
    """One browser for a module's tests."""
    with chromium() as browser:
        yield browser
