"""Kernel behaviour: settings, the error format, request ids, health checks."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import get_args

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import ValidationError

from billing.models import StripeEvent
from platform_core.access.dependencies import ItemsRead
from platform_core.access.permissions import ALL
from platform_core.access.principal import Principal, PrincipalKind
from platform_core.app.main import ROUTERS, add_routes, create_app
from platform_core.kernel.db.engines import Database
from platform_core.kernel.metrics_server import metrics_app
from platform_core.kernel.outbox import OutboxMessage
from platform_core.kernel.settings import DEV_SECRET_KEY, Environment, Settings, to_sqlalchemy_url
from tests.conftest import BASE_DOMAIN, make_settings


class TestSettings:
    def test_default_secret_refused_in_production(self):
        with pytest.raises(ValidationError, match="SECRET_KEY"):
            Settings(env=Environment.PRODUCTION, secret_key=DEV_SECRET_KEY)

    def test_short_secret_refused_in_production(self):
        with pytest.raises(ValidationError, match="SECRET_KEY"):
            Settings(env=Environment.PRODUCTION, secret_key="short")

    def test_real_secret_accepted_in_production(self):
        assert Settings(env=Environment.PRODUCTION, secret_key="k" * 40).secret_key == "k" * 40

    def test_default_secret_allowed_in_development(self):
        assert Settings(env=Environment.DEVELOPMENT).secret_key == DEV_SECRET_KEY

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("postgresql://u@h/db", "postgresql+psycopg://u@h/db"),
            ("postgres://u@h/db", "postgresql+psycopg://u@h/db"),
            ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db"),
        ],
    )
    def test_database_url_uses_psycopg3(self, url, expected):
        assert to_sqlalchemy_url(url) == expected

    def test_base_domain_normalised(self):
        assert Settings(base_domain=" Example.COM. ").base_domain == "example.com"


class TestRequestId:
    async def test_generated_when_absent(self, client_a):
        response = await client_a.get("/healthz")
        assert len(response.headers["x-request-id"]) == 32

    async def test_echoed_when_valid(self, client_a):
        response = await client_a.get("/healthz", headers={"X-Request-ID": "abc-123.def"})
        assert response.headers["x-request-id"] == "abc-123.def"

    async def test_replaced_when_malformed(self, client_a):
        response = await client_a.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
        assert response.headers["x-request-id"] != "bad id with spaces"
        assert len(response.headers["x-request-id"]) == 32

    async def test_in_log_lines(self, settings, db, caplog):
        app = create_app(settings, db=db, access_log=True)
        caplog.set_level(logging.INFO, logger="platform.access")
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            await client.get("/healthz", headers={"X-Request-ID": "trace-me"})
        await app.state.redis.aclose()
        records = [r for r in caplog.records if r.name == "platform.access"]
        assert records
        assert records[-1].request_id == "trace-me"
        assert records[-1].status == 200


class TestErrorFormat:
    async def test_unhandled_error_is_500_in_error_format(self, app):
        @app.get("/explode")
        async def explode() -> None:
            """Fail."""
            raise ValueError("secret internals")

        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url=f"http://{BASE_DOMAIN}") as client:
            response = await client.get("/explode")
        assert response.status_code == 500
        assert response.json() == {
            "error": {"code": "internal_error", "message": "An internal error occurred.", "details": None}
        }


class TestHealth:
    async def test_healthz_on_any_host(self, app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://10.0.0.7"
        ) as client:
            response = await client.get("/healthz")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}

    async def test_readyz_ok(self, platform_client):
        response = await platform_client.get("/readyz")
        assert response.status_code == 200
        assert response.json()["checks"] == {"database": "ok", "redis": "ok"}

    async def test_readyz_names_redis_when_down(self, settings):
        broken = make_settings(settings.database_url, "redis://127.0.0.1:1/0")
        database = Database(broken, pool_size=1)
        app = create_app(broken, db=database, access_log=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            response = await client.get("/readyz")
        await app.state.redis.aclose()
        await database.dispose()
        assert response.status_code == 503
        error = response.json()["error"]
        assert error["code"] == "not_ready"
        assert set(error["details"]["failing"]) == {"redis"}

    async def test_readyz_names_database_when_down(self, settings):
        broken = make_settings("postgresql://postgres@127.0.0.1:1/none", settings.redis_url)
        database = Database(broken, pool_size=1)
        app = create_app(broken, db=database, access_log=False)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://x") as client:
            response = await client.get("/readyz")
        await app.state.redis.aclose()
        await database.dispose()
        assert response.status_code == 503
        assert set(response.json()["error"]["details"]["failing"]) == {"database"}

    async def test_metrics_are_not_served_by_the_api_on_any_host(self, app, client_a, platform_client):
        for host in ("10.0.0.7:8000", "127.0.0.1", "localhost:8000", "[::1]:8000"):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=f"http://{host}"
            ) as c:
                response = await c.get("/metrics")
            assert response.status_code == 404, host
        for client in (client_a, platform_client):
            response = await client.get("/metrics")
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"

    async def test_the_metrics_app_counts_the_api_requests(self, app, client_a):
        await client_a.get("/api/v1/items")
        transport = httpx.ASGITransport(app=metrics_app(app.state))
        async with httpx.AsyncClient(transport=transport, base_url="http://10.0.0.7:9100") as c:
            response = await c.get("/metrics")
        assert response.status_code == 200
        assert 'http_requests_total{method="GET",route="/api/v1/items",status="200"}' in response.text


class TestRoutes:
    def test_every_router_path_served_flat_and_documented(self, app):
        paths = {getattr(route, "path", None) for route in app.router.routes}
        assert {"/api/v1/items", "/api/v1/items/{item_id}", "/api/v1/jobs", "/healthz"} <= paths
        assert "/api/v1/items/{item_id}" in app.openapi()["paths"]

    def test_nested_router_refused(self):
        outer, inner = APIRouter(), APIRouter()

        @inner.get("/x")
        async def x() -> None:
            """A route in a nested router."""

        outer.include_router(inner)
        with pytest.raises(TypeError, match="API routes"):
            add_routes(FastAPI(), outer)

    def test_flat_routes_document_the_same_api_as_include_router(self, app):
        reference = FastAPI(title=app.title, version=app.version)
        for router in ROUTERS:
            reference.include_router(router)
        assert app.openapi() == reference.openapi()

    async def test_dependency_overrides_apply_to_flat_routes(self, app, anon_a):
        assert (await anon_a.get("/api/v1/items")).status_code == 401
        gate = get_args(ItemsRead)[1].dependency
        app.dependency_overrides[gate] = lambda: Principal(
            kind=PrincipalKind.USER,
            user_id=uuid.uuid4(),
            email="x@example.org",
            permissions=ALL,
            role="owner",
            tenant_id=uuid.uuid4(),
        )
        assert (await anon_a.get("/api/v1/items")).status_code == 200


class TestIdentitySettings:
    def test_malformed_jwt_keys_refused(self):
        with pytest.raises(ValidationError, match="32"):
            Settings(jwt_keys="k1:short")

    def test_operator_host_must_be_reserved(self):
        with pytest.raises(ValidationError, match="OPERATOR_HOST"):
            Settings(operator_host="acme")

    def test_default_signing_key_derives_from_the_secret(self):
        one = Settings(secret_key="a" * 40).signing_keys_spec
        two = Settings(secret_key="b" * 40).signing_keys_spec
        assert one != two
        assert Settings(jwt_keys="k9:" + "z" * 32).signing_keys_spec == "k9:" + "z" * 32


class TestBacklogGauges:
    async def test_parked_events_and_an_old_outbox_row_show_in_the_metrics(self, app, db):
        hour_ago = datetime.now(UTC) - timedelta(hours=1)
        async with db.session(None) as session:
            for n, status in enumerate(("parked", "parked", "failed", "processed")):
                session.add(
                    StripeEvent(
                        id=f"evt_gauge_{n}_{uuid.uuid4().hex[:8]}",
                        type="invoice.paid",
                        created=hour_ago,
                        payload={},
                        status=status,
                        attempts=1,
                        received_at=hour_ago,
                    )
                )
            session.add(OutboxMessage(task_name="probe.noop", kwargs={}, available_at=hour_ago, attempts=2))
            await session.commit()
        app.state.gauges_refreshed_at = None
        transport = httpx.ASGITransport(app=metrics_app(app.state))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            text = (await c.get("/metrics")).text
        samples = {
            line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("platform_")
        }
        assert samples['platform_stripe_events{status="parked"}'] >= 2
        assert samples['platform_stripe_events{status="failed"}'] >= 1
        assert samples["platform_stripe_event_oldest_unprocessed_seconds"] >= 3500
        assert samples["platform_outbox_pending"] >= 1
        assert samples["platform_outbox_retrying"] >= 1
        assert samples["platform_outbox_oldest_due_seconds"] >= 3500

    async def test_a_database_failure_leaves_the_other_metrics_served(self, settings):
        broken = make_settings("postgresql://postgres@127.0.0.1:1/none", settings.redis_url)
        database = Database(broken, pool_size=1)
        app = create_app(broken, db=database, access_log=False)
        transport = httpx.ASGITransport(app=metrics_app(app.state))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            response = await c.get("/metrics")
        await app.state.redis.aclose()
        await database.dispose()
        assert response.status_code == 200
        assert "http_requests_total" in response.text
