"""Test set-up: services, a database per xdist worker, two provisioned tenants, per-test transactions.

Services: `DATABASE_URL`/`REDIS_URL` when set (a server URL: each worker creates its own database on it),
otherwise local PostgreSQL and Redis started once under `.dev/test` by the controlling process. S3:
`S3_ENDPOINT_URL` when set (each worker creates its own bucket on it), otherwise a moto server per
worker, started by the first test that needs it.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from billing import repository as billing_repository
from billing.models import BillingAccount
from billing.state import BILLING_STATES
from platform_core.access.cache import PRINCIPALS
from platform_core.access.models import User
from platform_core.access.permissions import builtin_role_id
from platform_core.app.main import create_app
from platform_core.cli.main import app as cli
from platform_core.kernel.context import TenantContext, TenantStatus
from platform_core.kernel.db.bootstrap import drop_database, ensure_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.settings import PROJECT_ROOT, Environment, Settings, get_settings, to_sqlalchemy_url
from platform_core.uploads.settings import S3Settings, get_s3_settings
from platform_core.uploads.storage import ObjectStore, get_store, make_store
from platform_core.webhooks.settings import get_webhook_settings
from tenants.fleet import upgrade_public
from tenants.models import Tenant
from tests.factories import UserFactory, access_token, create_user
from tests.support.tenants import TenantOps
from tests.support.transactions import OneTransaction

BASE_DOMAIN = "example.com"
_STACK_KEY = "_platform_local_stack"
STACK_STARTED = "PLATFORM_TEST_STACK_STARTED"


def pytest_configure(config: pytest.Config) -> None:
    """In the controlling process, start local services for what is not configured."""
    # Webhook receivers of the tests listen on loopback, as in `make dev` (tests of the production rule
    # set it to false themselves).
    os.environ.setdefault("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    if hasattr(config, "workerinput"):
        return
    if os.environ.get("DATABASE_URL") and os.environ.get("REDIS_URL"):
        return
    from platform_core.devstack.stack import LocalStack

    stack = LocalStack(
        PROJECT_ROOT / ".dev",
        database_url=os.environ.get("DATABASE_URL"),
        redis_url=os.environ.get("REDIS_URL"),
        tag="test",
    )
    stack.__enter__()
    setattr(config, _STACK_KEY, stack)
    os.environ["DATABASE_URL"] = stack.database_url
    os.environ["REDIS_URL"] = stack.redis_url
    os.environ[STACK_STARTED] = "1"  # the workers inherit it: these servers are the test stack's


def pytest_unconfigure(config: pytest.Config) -> None:
    """Stop the services this run started."""
    stack = getattr(config, _STACK_KEY, None)
    if stack is not None:
        stack.__exit__(None, None, None)


def worker_database_url(worker_id: str, suffix: str = "") -> str:
    """This test worker's database (`suffix` names another one of its own)."""
    url = make_url(to_sqlalchemy_url(os.environ["DATABASE_URL"]))
    name = f"platform_test_{worker_id}{suffix}".replace("-", "_")
    return url.set(database=name).render_as_string(hide_password=False)


def _redis_index(worker_id: str) -> int:
    return int(worker_id[2:]) + 1 if worker_id.startswith("gw") else 0


def _worker_redis_url(worker_id: str) -> str:
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    return f"{base}/{_redis_index(worker_id) % 8}"


def separate_redis_url(worker_id: str) -> str:
    """A second Redis database of this test worker, for processes that outlive one test."""
    base = os.environ["REDIS_URL"].rsplit("/", 1)[0]
    return f"{base}/{_redis_index(worker_id) % 8 + 8}"


def make_settings(database_url: str, redis_url: str, **overrides: Any) -> Settings:
    """Settings for tests: test environment, quiet logs, the test base domain."""
    values: dict[str, Any] = {
        "env": Environment.TEST,
        "database_url": database_url,
        "redis_url": redis_url,
        "base_domain": BASE_DOMAIN,
        "log_level": "WARNING",
        "log_format": "console",
        "tenant_cache_ttl_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
def settings(worker_id: str) -> Settings:
    """This worker's settings, on a fresh database migrated to head."""
    url = worker_database_url(worker_id)
    drop_database(url)
    ensure_database(url)
    test_settings = make_settings(url, _worker_redis_url(worker_id))
    upgrade_public(test_settings)
    get_settings.cache_clear()
    return test_settings


@pytest.fixture(scope="session")
def sync_db(settings: Settings) -> Iterator[Database]:
    """A Database for sync work (provisioning, CLI-level services)."""
    db = Database(settings, pool_size=2)
    yield db
    db.sync_engine.dispose()


@pytest.fixture(scope="session")
def tenant_service(sync_db: Database, settings: Settings) -> TenantOps:
    """Tenant operations on this worker's database, each committed (tests/support/tenants.py)."""
    return TenantOps(sync_db, settings)


def _context(tenant: Tenant) -> TenantContext:
    return TenantContext(
        id=tenant.id,
        slug=tenant.slug,
        schema_name=tenant.schema_name,
        status=TenantStatus(tenant.status),
        name=tenant.name,
    )


def subscribed(sync_db: Database, tenant: Tenant, plan: str = "pro", status: str = "active") -> TenantContext:
    """Give a committed tenant a billing account on `plan` in `status`; return its context."""
    with sync_db.sync_session() as session, session.begin():
        session.merge(BillingAccount(tenant_id=tenant.id, plan_key=plan, status=status))
        billing_repository.notify_state_changed(session, tenant.id)  # as billing's tasks do
    BILLING_STATES.invalidate(tenant.id)  # what a listener does with it (none runs in this process)
    return _context(tenant)


@pytest.fixture(scope="session")
def tenant_a(tenant_service: TenantOps, sync_db: Database) -> TenantContext:
    """Tenant `alpha`, provisioned once per worker: a paying customer (a billing account on the paid
    `pro` plan, `active`), so its owner may do everything a route offers."""
    return subscribed(sync_db, tenant_service.create(slug="alpha", name="Alpha"), plan="pro", status="active")


@pytest.fixture(scope="session")
def tenant_b(tenant_service: TenantOps, sync_db: Database) -> TenantContext:
    """Tenant `beta`, provisioned once per worker: never subscribed (no billing account row), so on the
    default free plan. It differs from `alpha` in plan and billing state on purpose: code that read the
    other tenant's billing row would get the wrong entitlements, and a test would see it."""
    return _context(tenant_service.create(slug="beta", name="Beta"))


@pytest.fixture(scope="session")
def s3_server(worker_id: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """This worker's S3, as environment variables: the configured `S3_ENDPOINT_URL` with a bucket of
    this worker's, or else a moto server of its own (platform_core/devstack/s3.py)."""
    bucket = f"platform-test-{worker_id}".replace("_", "-")
    endpoint = os.environ.get("S3_ENDPOINT_URL")
    if endpoint:
        region = os.environ.get("S3_REGION", "")
        make_store(S3Settings(endpoint_url=endpoint, bucket=bucket, region=region)).ensure_bucket(region)
        yield {"S3_ENDPOINT_URL": endpoint, "S3_BUCKET": bucket, "S3_REGION": region}
        return
    from platform_core.devstack.s3 import local_s3

    with local_s3(tmp_path_factory.mktemp("s3"), bucket=bucket) as server:
        yield server.environ()


@pytest.fixture
def s3(s3_server: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[ObjectStore]:
    """The platform's S3 settings pointed at this worker's server; yields the store the app uses."""
    for name, value in s3_server.items():
        monkeypatch.setenv(name, value)
    get_s3_settings.cache_clear()
    get_store.cache_clear()
    yield get_store()
    get_s3_settings.cache_clear()
    get_store.cache_clear()


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    """The app's Database for a test, its sessions made exactly as in production (engine copies bound to
    a tenant), on one connection inside a transaction that is rolled back after the test
    (tests/support/transactions.py)."""
    transaction = OneTransaction(settings)
    database = Database(settings, pool_size=1, async_engine=transaction.engine)
    try:
        yield database
    finally:
        await transaction.end()
        await database.dispose()


@pytest.fixture
async def app(settings: Settings, db: Database, tenant_a: TenantContext, tenant_b: TenantContext) -> Any:
    """The API app wired to the test transaction (lifespan not run: no background listener)."""
    application = create_app(settings, db=db, access_log=False)
    await forget_throttles(application)
    PRINCIPALS.clear()  # tests change users and keys by hand, too
    yield application
    await application.state.redis.aclose()


@pytest.fixture
async def live_app(settings: Settings) -> AsyncIterator[Any]:
    """The app on committed data (no test transaction): workers and other processes see what it wrote."""
    database = Database(settings, pool_size=2)
    application = create_app(settings, db=database, access_log=False)
    PRINCIPALS.clear()
    yield application
    await application.state.redis.aclose()
    await database.dispose()


async def forget_throttles(app: Any) -> None:
    """Delete this worker's sign-in throttle counters: every test starts with a clean slate."""
    redis = app.state.redis
    keys = [key async for key in redis.scan_iter(match="LIMITS*")]
    if keys:
        await redis.delete(*keys)


def client_for(app: Any, host: str) -> httpx.AsyncClient:
    """An HTTP client that talks to the app as if it were served at `host`."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=f"http://{host}")


@pytest.fixture
def run_cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """`platformctl` in-process against this worker's database: run_cli("tenants", "list", input=...)."""
    monkeypatch.setenv("DATABASE_URL", settings.database_url)
    monkeypatch.setenv("BASE_DOMAIN", settings.base_domain)
    monkeypatch.setenv("ENV", "test")
    monkeypatch.setenv("LOG_LEVEL", "WARNING")
    for name in ("OPERATOR_PASSWORD", "OWNER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    get_settings.cache_clear()
    runner = CliRunner()
    yield lambda *args, **kwargs: runner.invoke(cli, list(args), **kwargs)
    get_settings.cache_clear()


def host_of(tenant: TenantContext) -> str:
    """The host a tenant is served at in tests."""
    return f"{tenant.slug}.{BASE_DOMAIN}"


def signed_in(app: Any, tenant: TenantContext, token: str) -> httpx.AsyncClient:
    """A client on a tenant's host sending `token` as its bearer credentials."""
    client = client_for(app, host_of(tenant))
    client.headers["Authorization"] = f"Bearer {token}"
    return client


def owner_client(
    app: Any, settings: Settings, sync_db: Database, tenant: Any, host: str | None = None
) -> httpx.AsyncClient:
    """A client signed in as a new owner of a committed tenant (a TenantContext or a Tenant row)."""
    user = UserFactory.build(role_id=builtin_role_id("owner"))
    with sync_db.sync_session(tenant.schema_name) as session:
        session.add(user)
        session.commit()
    client = client_for(app, host or f"{tenant.slug}.{BASE_DOMAIN}")
    client.headers["Authorization"] = f"Bearer {access_token(settings, tenant, user.id)}"
    return client


@pytest.fixture
async def owner_a(db: Database, tenant_a: TenantContext) -> User:
    """An owner of tenant alpha (inside the test transaction)."""
    return await create_user(db, tenant_a, role="owner", email="owner@alpha.example.org")


@pytest.fixture
async def owner_b(db: Database, tenant_b: TenantContext) -> User:
    """An owner of tenant beta (inside the test transaction)."""
    return await create_user(db, tenant_b, role="owner", email="owner@beta.example.org")


@pytest.fixture
async def client_a(
    app: Any, settings: Settings, tenant_a: TenantContext, owner_a: User
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on tenant alpha's host, signed in as its owner."""
    async with signed_in(app, tenant_a, access_token(settings, tenant_a, owner_a.id)) as client:
        yield client


@pytest.fixture
async def client_b(
    app: Any, settings: Settings, tenant_b: TenantContext, owner_b: User
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on tenant beta's host, signed in as its owner."""
    async with signed_in(app, tenant_b, access_token(settings, tenant_b, owner_b.id)) as client:
        yield client


@pytest.fixture
async def anon_a(app: Any, tenant_a: TenantContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client on tenant alpha's host with no credentials."""
    async with client_for(app, host_of(tenant_a)) as client:
        yield client


@pytest.fixture
async def anon_b(app: Any, tenant_b: TenantContext) -> AsyncIterator[httpx.AsyncClient]:
    """A client on tenant beta's host with no credentials."""
    async with client_for(app, host_of(tenant_b)) as client:
        yield client


@pytest.fixture
async def platform_client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the apex host."""
    async with client_for(app, BASE_DOMAIN) as client:
        yield client


@pytest.fixture
def private_targets(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Webhook endpoints on loopback may be registered (as `make dev` and the tests configure it)."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "true")
    get_webhook_settings.cache_clear()
    yield
    get_webhook_settings.cache_clear()


@pytest.fixture
def public_targets_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Production's rule for webhook endpoints: public https targets only."""
    monkeypatch.setenv("WEBHOOK_ALLOW_PRIVATE_TARGETS", "false")
    get_webhook_settings.cache_clear()
    yield
    get_webhook_settings.cache_clear()
