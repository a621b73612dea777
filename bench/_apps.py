"""The two ASGI apps that bench.tenancy_overhead serves with uvicorn (`--factory`), configured by env.

BENCH_DATABASE_URL, BENCH_REDIS_URL: the benchmark's database and Redis.
BENCH_TENANT_SCHEMA: the tenant schema the bare app reads (the full app finds it from the Host header).
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request, Response
from sqlalchemy.ext.asyncio import create_async_engine

from platform_core.access import dependencies as auth_dependencies
from platform_core.access.permissions import ALL
from platform_core.access.principal import Principal, PrincipalKind
from platform_core.app.main import create_app
from platform_core.items import service as item_service
from platform_core.items.models import ItemStatus
from platform_core.items.repository import ItemFilter
from platform_core.items.schemas import ItemPage, ItemSort
from platform_core.kernel.db.engines import Database
from platform_core.kernel.log import configure_logging
from platform_core.kernel.paging import PageDep
from platform_core.kernel.security import passwords
from platform_core.kernel.settings import Environment, Settings
from platform_core.kernel.tenancy import TenantReader, get_tenant


def _settings() -> Settings:
    return Settings(
        env=Environment.TEST,
        database_url=os.environ["BENCH_DATABASE_URL"],
        redis_url=os.environ["BENCH_REDIS_URL"],
        base_domain=os.environ.get("BENCH_BASE_DOMAIN", "example.com"),
        log_level="WARNING",
        log_format="console",
    )


def full_app() -> FastAPI:
    """The platform app exactly as create_app builds it: middleware, host resolution, tenant session,
    and authentication (requests need a bearer token)."""
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings, access_log=False)


def full_app_hashing_on_the_loop() -> FastAPI:
    """The platform app with argon2 run on the event loop, as it was before hashing moved to worker
    threads: the baseline of bench.signin_contention (patched in this server process alone)."""

    async def on_the_loop(call: Any) -> Any:
        return call()

    passwords._off_the_loop = on_the_loop  # type: ignore[assignment]
    return full_app()


def tenant_app_without_auth() -> FastAPI:
    """The platform app with authentication answered by a fixed owner principal.

    The routes, their dependencies and the permission check are create_app's; only `authenticate`
    (bearer token, signature, the principal query) is replaced, in this server process alone. This is
    what tenancy costs on its own (bench.tenancy_overhead), and the baseline that authentication is
    measured against (bench.auth_overhead). Not `app.dependency_overrides`: FastAPI rebuilds an
    overridden dependency's signature on every request, which would slow the baseline down.
    """
    owner = Principal(
        kind=PrincipalKind.USER,
        user_id=uuid.UUID(int=0),
        email="bench@example.com",
        permissions=ALL,
        role="owner",
        tenant_id=uuid.UUID(int=0),
    )

    async def fixed_principal(request: Request) -> Principal:
        await get_tenant(request)  # the host, as authenticate resolves it (a session only on a cache miss)
        return owner

    auth_dependencies.authenticate = fixed_principal  # type: ignore[assignment]
    return full_app()


def bare_app() -> FastAPI:
    """One route running the same item listing (the lean read and encoder the platform's route uses),
    with the tenant fixed: no host resolution, no authentication, no middleware.

    The engine has the platform's pool settings and connect arguments, so the SQL sent is byte-for-byte
    the full app's.
    """
    settings = _settings()
    configure_logging(settings.log_level, settings.log_format)
    engine = create_async_engine(
        settings.sync_database_url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=settings.db_pool_recycle_seconds,
        pool_pre_ping=False,
        connect_args={
            "application_name": "platform",
            "options": f"-c statement_timeout={settings.db_statement_timeout_ms}",
        },
    )
    reader = TenantReader(Database(settings, async_engine=engine), os.environ["BENCH_TENANT_SCHEMA"], {})

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        gc.freeze()  # as the platform's lifespan does (platform_core/app/main.py)
        yield
        await engine.dispose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/api/v1/items", response_model=ItemPage)
    async def list_items(
        paging: PageDep,
        status: ItemStatus | None = None,
        tag: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
        q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
        sort: ItemSort = ItemSort.CREATED_DESC,
    ) -> Any:
        flt = ItemFilter(status=status.value if status else None, tag=tag.lower() if tag else None, q=q)
        body = await item_service.list_items_json(reader, flt, sort=sort, paging=paging)
        return Response(body, media_type="application/json")

    return app
