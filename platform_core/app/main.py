"""The app factory: assembles the kernel, the tenancy layer and the domain routers."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.routing import BaseRoute, WebSocketRoute

import platform_core.app.models  # noqa: F401 - the model registry: every table, before anything provisions
from billing import metrics as billing_metrics
from billing.access import BillingAccessPolicy
from billing.router import router as billing_router
from billing.router import webhook_router as stripe_webhook_router
from billing.settings import get_billing_settings
from billing.state import BILLING_STATES
from billing.usage import UsageMeters
from platform_core.access import repository as access_repository
from platform_core.access.cache import PRINCIPALS
from platform_core.account.router import router as account_router
from platform_core.api_keys.router import router as api_keys_router
from platform_core.app.openapi.router import assets as docs_assets
from platform_core.app.openapi.router import router as openapi_router
from platform_core.audit.router import router as audit_router
from platform_core.auth.router import router as auth_router
from platform_core.auth.throttle import Throttle
from platform_core.chat import service as chat_service
from platform_core.chat.router import router as chat_router
from platform_core.console.routers import FALLBACKS as CONSOLE_FALLBACKS
from platform_core.console.routers import ROUTERS as CONSOLE_ROUTERS
from platform_core.console.routing import add_console_routes
from platform_core.console.routing_fallback import install_fallback
from platform_core.console.templating import assets as console_assets
from platform_core.health.router import router as health_router
from platform_core.invitations.router import router as invitations_router
from platform_core.items.router import router as items_router
from platform_core.jobs.router import router as jobs_router
from platform_core.kernel.db.engines import Database
from platform_core.kernel.db.notifications import Notifications
from platform_core.kernel.db.unit_of_work import UnitOfWorkMiddleware
from platform_core.kernel.error_handlers import install_error_handlers
from platform_core.kernel.log import install_context_fields
from platform_core.kernel.metrics_server import serve_metrics
from platform_core.kernel.middleware import RequestContextMiddleware
from platform_core.kernel.observability import init_sentry
from platform_core.kernel.read_timeouts import BodyReadTimeoutMiddleware
from platform_core.kernel.security.tokens import SigningKeys
from platform_core.kernel.settings import Settings, get_settings
from platform_core.members.router import router as members_router
from platform_core.operators.router import router as operators_router
from platform_core.realtime import channels as realtime_channels
from platform_core.realtime.hub import Hub as RealtimeHub
from platform_core.realtime.router import WEBSOCKET_PATH as REALTIME_PATH
from platform_core.realtime.router import RedactTickets, realtime_socket
from platform_core.realtime.router import router as realtime_router
from platform_core.realtime.settings import get_realtime_settings
from platform_core.realtime.shutdown import chain_signal_handlers
from platform_core.reports.router import router as reports_router
from platform_core.roles.router import router as roles_router
from platform_core.tenant_settings.router import router as tenant_settings_router
from platform_core.uploads import repository as upload_repository
from platform_core.uploads.router import router as uploads_router
from platform_core.webhooks.router import events_router as webhook_events_router
from platform_core.webhooks.router import router as webhook_endpoints_router
from tenants import pool_metrics
from tenants.resolution import HostResolver
from workers.outbox import metrics as outbox_metrics

GC_THRESHOLDS = (10_000, 50, 50)  # set once start-up is done (see the lifespan)

# Every router the API serves, in matching order.
ROUTERS: tuple[APIRouter, ...] = (
    # Tenant data first: Starlette tries routes in order, so the busiest paths match soonest.
    items_router,
    jobs_router,
    reports_router,
    uploads_router,
    auth_router,
    account_router,
    members_router,
    invitations_router,
    roles_router,
    api_keys_router,
    audit_router,
    tenant_settings_router,
    webhook_endpoints_router,
    webhook_events_router,
    realtime_router,
    chat_router,
    billing_router,
    stripe_webhook_router,
    operators_router,
    health_router,
    openapi_router,
)


def create_app(
    settings: Settings | None = None, *, db: Database | None = None, access_log: bool = True
) -> FastAPI:
    """Build the ASGI app for the given settings (the process's settings by default)."""
    settings = settings or get_settings()
    install_context_fields()
    init_sentry(settings)
    database = db or Database(settings)
    resolver = HostResolver(database, settings)
    # The process's caches, each dropped per tenant by the NOTIFY of the changes it holds.
    BILLING_STATES.configure(ttl=settings.tenant_cache_ttl_seconds)
    PRINCIPALS.ttl = settings.principal_cache_ttl_seconds
    notifications = Notifications(settings)
    resolver.subscribe(notifications)
    PRINCIPALS.subscribe(notifications)
    BILLING_STATES.subscribe(notifications)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        listener = asyncio.create_task(notifications.listen())
        await realtime_hub.start()
        # On SIGTERM, realtime clients are told "going away" (1001) before the server closes sockets.
        undo_signals = chain_signal_handlers(realtime_hub)
        try:
            async with serve_metrics(settings, app.state):
                # What start-up made (routes, models, schemas: ~240,000 objects) lives as long as the
                # process: out of the collector's sight, a full collection no longer walks it (over
                # 100 ms, paid by whichever requests were in flight: bench/peer_django_tenants.py p99).
                gc.freeze()
                # Young collections after 10,000 net allocations instead of 700, a full one after 50 x 50
                # of them instead of 10 x 10: with dozens of requests in flight, the defaults promoted
                # their short-lived objects and ran a full collection every few seconds, each walking
                # every cached tenant's objects (20-75 ms with 1,000 tenants cached) to free nothing.
                gc.set_threshold(*GC_THRESHOLDS)
                yield
        finally:
            undo_signals()
            await realtime_hub.stop()
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener
            await app.state.redis.aclose()
            if db is None:
                await database.dispose()

    app = FastAPI(
        title="SaaS Platform",
        version="0.1.0",
        lifespan=lifespan,
        openapi_url=None,  # each kind of host serves its own document (platform_core/openapi)
    )
    app.state.settings = settings
    app.state.db = database
    app.state.tenant_resolver = resolver
    app.state.notifications = notifications
    app.state.signing_keys = SigningKeys.parse(settings.signing_keys_spec)
    app.state.throttle = Throttle(settings)
    app.state.access_policy = BillingAccessPolicy(settings, get_billing_settings(), BILLING_STATES)
    app.state.usage_meters = UsageMeters(
        seats_used=access_repository.seats_used, storage_used=upload_repository.storage_used
    )
    app.state.gauge_refreshers = (
        billing_metrics.refresh,
        outbox_metrics.refresh,
        pool_metrics.refresher(settings),
    )
    app.state.redis = aioredis.Redis.from_url(settings.redis_url, socket_timeout=2, socket_connect_timeout=2)
    # Chat rooms are a realtime channel kind of the chat domain (the realtime layer cannot import it).
    realtime_channels.AUTHORIZERS["chat"] = chat_service.can_subscribe
    realtime_channels.CLIENT_PUBLISH["chat"] = chat_service.can_send_typing
    realtime_channels.CLIENT_MESSAGES["chat"] = chat_service.store_socket_message
    realtime_hub = RealtimeHub(settings.redis_url, get_realtime_settings())
    app.state.realtime_hub = realtime_hub
    install_error_handlers(app)
    app.add_middleware(UnitOfWorkMiddleware)  # added first, so it runs inside the request context
    app.add_middleware(BodyReadTimeoutMiddleware, timeout=settings.request_body_timeout_seconds)
    app.add_middleware(RequestContextMiddleware, header=settings.request_id_header, access_log=access_log)
    add_routes(app, *ROUTERS)
    if not any(isinstance(f, RedactTickets) for f in logging.getLogger("uvicorn.error").filters):
        logging.getLogger("uvicorn.error").addFilter(RedactTickets())
    # A plain Starlette route: no dependency machinery held for the life of every connection.
    app.router.routes.append(WebSocketRoute(REALTIME_PATH, realtime_socket))
    add_console_routes(app, CONSOLE_ROUTERS)
    install_fallback(app, CONSOLE_FALLBACKS)
    app.router.routes.extend([docs_assets, console_assets])
    app.state.openapi_documents = {}
    return app


# Everything an APIRoute was declared with (its router's prefix, tags and dependencies included).
_ROUTE_FIELDS = (
    "response_model",
    "status_code",
    "tags",
    "dependencies",
    "summary",
    "description",
    "response_description",
    "responses",
    "deprecated",
    "methods",
    "operation_id",
    "response_model_include",
    "response_model_exclude",
    "response_model_by_alias",
    "response_model_exclude_unset",
    "response_model_exclude_defaults",
    "response_model_exclude_none",
    "include_in_schema",
    "response_class",
    "name",
    "callbacks",
    "openapi_extra",
    "generate_unique_id_function",
)


def add_routes(app: FastAPI, *routers: APIRouter) -> None:
    """Declare the routers' routes again on the app's own router, flat.

    `include_router` keeps each router as a nested branch that FastAPI walks, with a version check of
    every router below it, on every request: about a fifth of the CPU of a small tenant request
    (bench/tenancy_overhead.py). Our routers carry their prefix, tags and dependencies on each route
    (the APIRouter applies them when a route is declared), so declaring each route on the app with the
    same fields serves the same paths and the same OpenAPI document (tested), and the routes belong to
    this app, so `app.dependency_overrides` applies to them.
    """
    for router in routers:
        for route in router.routes:
            if not isinstance(route, APIRoute):
                raise TypeError(f"add_routes takes routers of API routes, not {type(route).__name__}")
            fields = {name: getattr(route, name) for name in _ROUTE_FIELDS}
            app.router.add_api_route(route.path, route.endpoint, **fields)
    unshadow_static_paths(app.router.routes)


def unshadow_static_paths(routes: list[BaseRoute]) -> None:
    """Keep parameterised routes from matching the paths of static routes beside them.

    Starlette prefers a route that matches path and method over one that matches the path alone, so
    `GET /api/v1/invitations/accept` was served by `GET /api/v1/invitations/{invitation_id}` (a 422 on
    the id) instead of answering 405 from `POST /api/v1/invitations/accept`. A path some route serves
    literally is never a parameter value: each parameterised route that would match such a path gets a
    lookahead refusing it, so the static route decides (its methods, else 405 with every allowed method).
    """
    api_routes = [route for route in routes if isinstance(route, APIRoute)]
    static = {route.path for route in api_routes if not route.param_convertors}
    for route in api_routes:
        if not route.param_convertors:
            continue
        shadowed = sorted(path for path in static if route.path_regex.match(path))
        if shadowed:
            literal = "|".join(re.escape(path) for path in shadowed)
            route.path_regex = re.compile(f"(?!(?:{literal})$){route.path_regex.pattern}")
