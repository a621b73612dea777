"""PostgreSQL and Redis going away and coming back, with servers of this module's own that it stops.

The app under test is the real one (httpx's ASGI transport) on a real PostgreSQL and Redis started
here (platform_core/devstack), so stopping them affects nothing else in the run; so is the worker
(a `platformctl worker` process on them).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from platform_core.access.cache import PRINCIPALS
from platform_core.access.models import ApiKey
from platform_core.access.permissions import builtin_role_id
from platform_core.app.main import create_app
from platform_core.devstack import postgres as devstack_postgres
from platform_core.devstack.postgres import start_postgres, stop_postgres
from platform_core.devstack.redis import start_redis, stop_redis
from platform_core.items.models import Item
from platform_core.kernel.db.bootstrap import ensure_database
from platform_core.kernel.db.engines import Database
from platform_core.kernel.security.tokens import hash_opaque_token, new_opaque_token
from platform_core.kernel.settings import PROJECT_ROOT, Settings, to_libpq_url
from tenants.models import Tenant
from tests.conftest import BASE_DOMAIN, make_settings, subscribed
from tests.factories import PASSWORD, UserFactory, access_token
from tests.support.processes import (
    PROBE_TASK_MODULES,
    VISIBILITY_TIMEOUT,
    WorkerProcess,
    tasks_ran,
    wait_until,
    worker_environment,
)
from tests.support.stalling import stalling_server
from tests.support.tenants import TenantOps
from workers.celery_app import create_celery
from workers.settings import CelerySettings

# Low enough that the test can take every connection itself.
MAX_CONNECTIONS = 12
# Far above redis-py's 5 s socket timeout, far below forever.
STALL_DEADLINE = 30.0
# Seconds to wait for a worker's retry: its first ones come after 1, 2 and 4 s.
RETRY_DEADLINE = 20.0


@dataclass
class Outage:
    """A PostgreSQL and a Redis this module starts and stops, and a tenant on them."""

    pg_dir: Path
    pg_port: int
    redis_dir: Path
    redis_port: int
    settings: Settings
    tenant: Tenant
    owner_email: str
    token: str
    api_key: str

    def stop_postgres(self) -> None:
        """Stop PostgreSQL (a fast shutdown: every connection is closed by the server)."""
        stop_postgres(self.pg_dir)

    def start_postgres(self) -> None:
        """Start PostgreSQL again on the same port and data."""
        start_postgres(self.pg_dir, port=self.pg_port, disposable=True)

    def stop_redis(self) -> None:
        """Stop Redis."""
        stop_redis(self.redis_dir)

    def start_redis(self) -> None:
        """Start Redis again on the same port."""
        start_redis(self.redis_dir, port=self.redis_port, disposable=True)


def _port(url: str) -> int:
    port = make_url(url).port
    assert port is not None
    return port


@pytest.fixture(scope="module")
def outage(worker_id: str) -> Iterator[Outage]:
    """Servers of this module's own, a migrated database, and a subscribed tenant with an owner and a key."""
    # Under .dev/ like the test stack's servers (as root they run as another user, which must reach
    # their data; pytest's temp dirs are private to root).
    base = PROJECT_ROOT / ".dev" / "test" / f"outage-{worker_id}"
    shutil.rmtree(base, ignore_errors=True)
    pg_dir, redis_dir = base / "postgres", base / "redis"
    server_args = devstack_postgres._server_args
    with pytest.MonkeyPatch.context() as patch:
        # The same server with fewer connection slots, so that a test can exhaust them.
        patch.setattr(
            devstack_postgres,
            "_server_args",
            lambda *args: [*server_args(*args), "-c", f"max_connections={MAX_CONNECTIONS}"],
        )
        pg = start_postgres(pg_dir, disposable=True)
        try:
            redis_server = start_redis(redis_dir, disposable=True)
            try:
                url = make_url(pg.url).set(database="platform").render_as_string(hide_password=False)
                ensure_database(url)
                settings = make_settings(url, redis_server.url, db_pool_size=3, db_max_overflow=0)
                yield _provision(pg_dir, pg.url, redis_dir, redis_server.url, settings)
            finally:
                stop_redis(redis_dir)
        finally:
            stop_postgres(pg_dir)
            shutil.rmtree(base, ignore_errors=True)


def _provision(pg_dir: Path, pg_url: str, redis_dir: Path, redis_url: str, settings: Settings) -> Outage:
    from tenants.fleet import upgrade_public

    upgrade_public(settings)
    db = Database(settings, pool_size=1)
    try:
        tenant = TenantOps(db, settings).create(slug="outage", name="Outage")
        subscribed(db, tenant, plan="pro")  # a plan with an API rate limit, counted in Redis
        owner = UserFactory.build(role_id=builtin_role_id("owner"))
        secret = "pk_" + new_opaque_token()
        with db.sync_session(tenant.schema_name) as session:
            session.add(owner)
            session.flush()
            session.add(
                ApiKey(
                    name="outage key",
                    prefix=secret[:12],
                    secret_hash=hash_opaque_token(secret),
                    scopes=["items:read"],
                    created_by_id=owner.id,
                )
            )
            session.commit()
    finally:
        db.sync_engine.dispose()
    return Outage(
        pg_dir=pg_dir,
        pg_port=_port(pg_url),
        redis_dir=redis_dir,
        redis_port=_port(redis_url),
        settings=settings,
        tenant=tenant,
        owner_email=owner.email,
        token=access_token(settings, tenant, owner.id),
        api_key=secret,
    )


@pytest.fixture
async def app(outage: Outage) -> AsyncIterator[Any]:
    """The real app on the module's servers, with a pool of 3 connections."""
    database = Database(outage.settings)
    application = create_app(outage.settings, db=database, access_log=False)
    PRINCIPALS.clear()
    yield application
    await application.state.redis.aclose()
    await database.dispose()


def _client(app: Any, outage: Outage, bearer: str | None) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url=f"http://{outage.tenant.slug}.{BASE_DOMAIN}",
        headers=headers,
    )


async def _fill_pool(client: httpx.AsyncClient) -> None:
    """Three requests at once: the pool then holds three connections to the server."""
    answers = await asyncio.gather(*(client.get("/api/v1/items") for _ in range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200], [a.text for a in answers]


def _assert_unavailable(response: httpx.Response, code: str) -> None:
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == code
    assert int(response.headers["retry-after"]) > 0


def _outage_logs(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """What the outage logged: no ERROR and no traceback anywhere, and its WARNING lines."""
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert [r.getMessage() for r in caplog.records if r.exc_info] == []
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("platform")]


async def test_first_requests_after_a_database_restart_succeed(app: Any, outage: Outage) -> None:
    async with _client(app, outage, outage.token) as client:
        await _fill_pool(client)
        outage.stop_postgres()
        outage.start_postgres()
        # Every pooled connection was closed by the restart: none of them may fail a request.
        for _ in range(3):
            answer = await client.get("/api/v1/items")
            assert answer.status_code == 200, answer.text
        await _fill_pool(client)
        created = await client.post("/api/v1/items", json={"title": "after the restart"})
        assert created.status_code == 201, created.text


def test_workers_sync_engine_survives_a_database_restart(outage: Outage) -> None:
    db = Database(outage.settings)
    try:
        sessions = [db.sync_engine.connect() for _ in range(3)]
        for conn in sessions:
            assert conn.execute(text("SELECT 1")).scalar() == 1
        for conn in sessions:
            conn.close()
        outage.stop_postgres()
        outage.start_postgres()
        for _ in range(3):
            with db.sync_session() as session:
                assert (
                    session.execute(select(Tenant.slug).where(Tenant.id == outage.tenant.id)).scalar()
                    == "outage"
                )
    finally:
        db.dispose_sync()


async def test_database_down_answers_503_and_recovers(
    app: Any, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with (
        _client(app, outage, outage.token) as client,
        _client(app, outage, None) as anonymous,
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://other.{BASE_DOMAIN}"
        ) as other,
    ):
        await _fill_pool(client)
        outage.stop_postgres()
        try:
            caplog.clear()
            _assert_unavailable(await client.get("/api/v1/items"), "database_unavailable")
            _assert_unavailable(
                await client.post("/api/v1/items", json={"title": "lost"}), "database_unavailable"
            )
            # A host not cached yet: resolving it needs the database too.
            _assert_unavailable(await other.get("/api/v1/items"), "database_unavailable")
            _assert_unavailable(
                await anonymous.post(
                    "/api/v1/auth/token", json={"email": outage.owner_email, "password": "x"}
                ),
                "database_unavailable",
            )
            warnings = _outage_logs(caplog)
            assert len(warnings) == 4, [w.getMessage() for w in warnings]
            assert all("database_unavailable" in w.getMessage() for w in warnings)
        finally:
            outage.start_postgres()
        answer = await client.get("/api/v1/items")
        assert answer.status_code == 200, answer.text
        signed_in = await anonymous.post(
            "/api/v1/auth/token", json={"email": outage.owner_email, "password": PASSWORD}
        )
        assert signed_in.status_code == 200, signed_in.text


async def test_no_free_connection_slot_answers_503_until_one_frees(app: Any, outage: Outage) -> None:
    held: list[psycopg.Connection] = []
    try:
        url = to_libpq_url(outage.settings.database_url)
        held.extend(psycopg.connect(url, autocommit=True) for _ in range(MAX_CONNECTIONS))
        with pytest.raises(psycopg.OperationalError, match="too many clients"):  # every slot is taken
            held.append(psycopg.connect(url, autocommit=True))
        async with _client(app, outage, outage.token) as client:
            _assert_unavailable(await client.get("/api/v1/items"), "database_unavailable")
            for conn in held:
                conn.close()
            held.clear()
            answer = await client.get("/api/v1/items")
            assert answer.status_code == 200, answer.text
    finally:
        for conn in held:
            conn.close()


async def test_redis_down_answers_503_for_sign_in_and_api_keys_only(
    app: Any, outage: Outage, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    sign_in = {"email": outage.owner_email, "password": PASSWORD}
    async with (
        _client(app, outage, outage.token) as user,
        _client(app, outage, outage.api_key) as key,
        _client(app, outage, None) as anonymous,
    ):
        assert (await key.get("/api/v1/items")).status_code == 200
        assert (await anonymous.post("/api/v1/auth/token", json=sign_in)).status_code == 200
        outage.stop_redis()
        try:
            caplog.clear()
            _assert_unavailable(await anonymous.post("/api/v1/auth/token", json=sign_in), "cache_unavailable")
            _assert_unavailable(await key.get("/api/v1/items"), "cache_unavailable")
            assert (await user.get("/api/v1/items")).status_code == 200  # access tokens need no Redis
            warnings = _outage_logs(caplog)
            assert len(warnings) == 2, [w.getMessage() for w in warnings]
            assert all("cache_unavailable" in w.getMessage() for w in warnings)
        finally:
            outage.start_redis()
        # The first requests after Redis is back succeed (no stale connection fails them).
        signed_in = await anonymous.post("/api/v1/auth/token", json=sign_in)
        assert signed_in.status_code == 200, signed_in.text
        answer = await key.get("/api/v1/items")
        assert answer.status_code == 200, answer.text


async def test_a_redis_that_does_not_answer_is_503_after_the_timeout(outage: Outage) -> None:
    with stalling_server() as url:
        settings = outage.settings.model_copy(update={"redis_url": url.replace("http://", "redis://")})
        database = Database(settings)
        application = create_app(settings, db=database, access_log=False)
        try:
            async with _client(application, outage, None) as anonymous:
                answer = await asyncio.wait_for(
                    anonymous.post(
                        "/api/v1/auth/token", json={"email": outage.owner_email, "password": PASSWORD}
                    ),
                    STALL_DEADLINE,
                )
            _assert_unavailable(answer, "cache_unavailable")
        finally:
            await application.state.redis.aclose()
            await database.dispose()


def _wait_for(worker: WorkerProcess, condition: Callable[[], bool]) -> None:
    """Wait for a worker's retry to show; at the deadline, fail with the worker's log."""
    try:
        wait_until(condition, RETRY_DEADLINE)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; the worker logged:\n{worker.output()[-4000:]}") from exc


def test_task_meeting_a_stopped_database_is_retried_and_commits_once_it_is_back(
    outage: Outage, tmp_path: Path
) -> None:
    app = create_celery(
        outage.settings,
        CelerySettings(visibility_timeout=VISIBILITY_TIMEOUT, extra_task_modules=PROBE_TASK_MODULES),
    )
    app.loader.import_default_modules()
    worker = WorkerProcess(worker_environment(outage.settings), "outage", tmp_path / "worker.log")
    db = Database(outage.settings, pool_size=1)
    task_id = str(uuid.uuid4())
    marker = f"retried-{task_id[:8]}"
    try:
        worker.wait_ready(app)
        outage.stop_postgres()
        try:
            # Straight to the broker: the outbox would need the database.
            app.send_task(
                "probe.effect", kwargs={"tenant_id": str(outage.tenant.id), "marker": marker}, task_id=task_id
            )
            _wait_for(worker, lambda: f"probe.effect[{task_id}]: database unavailable" in worker.output())
            assert "retrying in 1s" in worker.output()
        finally:
            outage.start_postgres()
        _wait_for(worker, lambda: tasks_ran(db, [task_id]))
        with db.sync_session(outage.tenant.schema_name) as session:
            items = session.scalar(select(func.count()).select_from(Item).where(Item.title == marker))
        assert items == 1
        # The task's own code ran only once the database was back: the failed attempts stopped before it.
        assert int(redis.Redis.from_url(outage.settings.redis_url).get(f"probe:starts:{marker}") or 0) == 1
        assert "Traceback" not in worker.output(), worker.output()
    finally:
        worker.stop()
        db.dispose_sync()
