"""Sentry set-up; the tenant is attached as a tag by the tenancy dependency via contextvars."""

from __future__ import annotations

from typing import Any

import sentry_sdk
from sentry_sdk.integrations.fastapi import FastApiIntegration
from sentry_sdk.integrations.starlette import StarletteIntegration

from platform_core.kernel.context import request_id_var, tenant_slug_var
from platform_core.kernel.settings import Settings


def _tag_context(event: Any, hint: Any) -> Any:
    tags = event.setdefault("tags", {})
    if tenant := tenant_slug_var.get():
        tags["tenant"] = tenant
    if request_id := request_id_var.get():
        tags["request_id"] = request_id
    return event


# Answers Sentry hears about: every 5xx but 503, which is the platform's answer to a dependency outage
# (database, Redis, Stripe, S3), logged once per request at WARNING. An outage reported per request would
# bury real faults; readiness probes and metrics are what page for an outage.
REPORTED_STATUSES = frozenset(range(500, 600)) - {503}


def init_sentry(settings: Settings) -> None:
    """Start Sentry when a DSN is configured; expected 4xx errors and outage 503s are never reported."""
    if not settings.sentry_dsn:
        return
    sentry_sdk.init(
        dsn=settings.sentry_dsn,
        environment=settings.env.value,
        traces_sample_rate=0.0,
        send_default_pii=False,
        before_send=_tag_context,
        # Never read request bodies: they hold passwords and tokens, and reading one to attach it to an
        # event would consume a streamed body (POST /api/v1/uploads/direct) before its route reads it.
        max_request_body_size="never",
        integrations=[
            StarletteIntegration(failed_request_status_codes=set(REPORTED_STATUSES)),
            FastApiIntegration(failed_request_status_codes=set(REPORTED_STATUSES)),
        ],
    )
