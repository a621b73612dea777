"""Delivering an endpoint's events, in order, one attempt at a time (the workers' side).

A worker takes the endpoint's lease (a row update, no transaction held open), sends its due deliveries
in event order, each in a short transaction of its own around an HTTP attempt made outside any
transaction, and gives the lease back. A delivery that fails waits for its retry, and the later ones
of the same endpoint wait behind it for at most WEBHOOK_ORDERING_HOLD_SECONDS after its first attempt;
then they go ahead. Another endpoint is another lease: one that hangs holds one worker slot for at most
the timeout per attempt and never delays the others.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from platform_core.access.actor import Actor, ActorType
from platform_core.audit.repository import event_insert
from platform_core.audit.service import AuditAction
from platform_core.kernel.context import TenantContext
from platform_core.kernel.db.base import utcnow
from platform_core.kernel.outbox import enqueue
from platform_core.kernel.settings import get_settings
from platform_core.webhooks import attempt, signing, targets
from platform_core.webhooks import repository as webhook_repository
from platform_core.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from platform_core.webhooks.settings import WebhookSettings
from workers.email.tasks import send_email_later

logger = logging.getLogger("platform.webhooks")

DELIVER_TASK = "webhooks.deliver"
DISABLED_EMAIL = "webhook_disabled"
LEASE_SECONDS_MARGIN = 30.0
RETRY_AFTER_CAP = 10 * 3600.0  # a receiver's Retry-After is honoured up to this
BATCH_SECONDS = 25.0  # a run hands over to a new task after this, so one endpoint never holds a slot long

SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True, slots=True)
class Wait:
    """Nothing is due now: the head of the line is due at `until`."""

    until: datetime


def retry_delay(settings: WebhookSettings, attempts: int, retry_after: float | None) -> float | None:
    """Seconds before the next attempt after `attempts` failed ones (None: no more attempts).

    The schedule's delay for this retry with +-20% jitter; a `Retry-After` the receiver sent replaces
    it (at least a second, at most ten hours).
    """
    schedule = settings.retry_delays()
    if attempts > len(schedule):
        return None
    if retry_after is not None:
        return min(max(retry_after, 1.0), RETRY_AFTER_CAP)
    return schedule[attempts - 1] * random.uniform(0.8, 1.2)  # noqa: S311 - jitter, not a secret


def choose(rows: list[WebhookDelivery], hold: timedelta, now: datetime) -> WebhookDelivery | Wait | None:
    """The next delivery to send from the pending ones in event order, or when to look again."""
    wait: datetime | None = None
    for row in rows:
        due = row.next_attempt_at is None or row.next_attempt_at <= now
        if due:
            return row
        if row.next_attempt_at is not None:
            wait = row.next_attempt_at if wait is None else min(wait, row.next_attempt_at)
        holding = row.first_attempt_at is None or row.first_attempt_at + hold > now
        if holding:
            # Later deliveries wait behind this one, until it is sent or its hold ends.
            if row.first_attempt_at is not None:
                hold_ends = row.first_attempt_at + hold
                wait = min(wait, hold_ends) if wait is not None else hold_ends
            break
    return Wait(wait) if wait is not None else None


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime) -> list[str]:
    """The secrets that sign: the current one, and the previous one for a while after a rotation."""
    found = [endpoint.secret]
    if endpoint.previous_secret and endpoint.previous_secret_until and endpoint.previous_secret_until > now:
        found.append(endpoint.previous_secret)
    return found


@dataclass(frozen=True, slots=True)
class Prepared:
    """One attempt, ready to send outside any transaction."""

    delivery_id: uuid.UUID
    target: targets.Target | None
    refusal: str | None
    body: bytes
    headers: dict[str, str]


def _prepare(
    session: Session,
    settings: WebhookSettings,
    endpoint: WebhookEndpoint,
    row: WebhookDelivery,
    now: datetime,
) -> Prepared:
    payload = webhook_repository.payload_of(session, row.event_id)
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    headers = signing.headers(secrets_in_use(endpoint, now), row.event_id, now, body)
    try:
        target: targets.Target | None = targets.resolve(
            endpoint.url, allow_private=settings.allow_private_targets
        )
        refusal = None
    except targets.TargetRefused as exc:
        target, refusal = None, f"target refused: {exc}"
    return Prepared(row.id, target, refusal, body, headers)


class Deliverer:
    """Delivers one endpoint's due events for a tenant; `sessions()` opens a session on its schema."""

    def __init__(
        self,
        sessions: SessionFactory,
        tenant: TenantContext,
        endpoint_id: uuid.UUID,
        settings: WebhookSettings,
    ) -> None:
        self.sessions = sessions
        self.tenant = tenant
        self.tenant_id = tenant.id
        self.endpoint_id = endpoint_id
        self.settings = settings
        self.lease_seconds = settings.timeout_seconds + LEASE_SECONDS_MARGIN

    def run(self) -> int:
        """Deliver what is due; how many attempts were made. Safe to run twice at once (one leases)."""
        made = 0
        for _ in range(3):
            with self.sessions() as session, session.begin():
                if not webhook_repository.lease(session, self.endpoint_id, self.lease_seconds):
                    return made  # another worker is delivering to it, and will see our work too
            try:
                made += self._deliver_due()
            finally:
                with self.sessions() as session, session.begin():
                    webhook_repository.release(session, self.endpoint_id)
            # Work committed while we held the lease was handed to a task that found it taken: look again.
            if not self._due_now():
                return made
        return made

    def _due_now(self) -> bool:
        with self.sessions() as session:
            endpoint = webhook_repository.endpoint(session, self.endpoint_id)
            if endpoint is None or not endpoint.enabled:
                return False
            rows = webhook_repository.pending_in_order(session, self.endpoint_id)
            hold = timedelta(seconds=self.settings.ordering_hold_seconds)
            return isinstance(choose(rows, hold, utcnow()), WebhookDelivery)

    def _deliver_due(self) -> int:
        started = time.monotonic()
        made = 0
        hold = timedelta(seconds=self.settings.ordering_hold_seconds)
        while True:
            with self.sessions() as session, session.begin():
                endpoint = webhook_repository.endpoint(session, self.endpoint_id)
                if endpoint is None or not endpoint.enabled:
                    return made
                now = utcnow()
                picked = choose(webhook_repository.pending_in_order(session, self.endpoint_id), hold, now)
                if picked is None:
                    return made
                if isinstance(picked, Wait):
                    self._wake_at(session, picked.until, now)
                    return made
                if time.monotonic() - started > BATCH_SECONDS:
                    self._wake_at(session, now, now)  # a fresh task goes on with the rest
                    return made
                prepared = _prepare(session, self.settings, endpoint, picked, now)
                webhook_repository.renew(session, self.endpoint_id, self.lease_seconds)
            outcome = self._send(prepared)
            made += 1
            with self.sessions() as session, session.begin():
                self._record(session, prepared.delivery_id, outcome)

    def _send(self, prepared: Prepared) -> attempt.Outcome:
        if prepared.target is None:
            return attempt.Outcome(None, None, 0, error=prepared.refusal)
        return attempt.send(
            prepared.target,
            prepared.body,
            prepared.headers,
            timeout=self.settings.timeout_seconds,
            max_bytes=self.settings.max_response_bytes,
            keep_bytes=self.settings.logged_response_bytes,
        )

    def _wake_at(self, session: Session, when: datetime, now: datetime) -> None:
        delay = max(0.0, (when - now).total_seconds())
        enqueue(
            session,
            DELIVER_TASK,
            tenant_id=self.tenant_id,
            delay_seconds=delay,
            endpoint_id=str(self.endpoint_id),
        )

    def _record(self, session: Session, delivery_id: uuid.UUID, outcome: attempt.Outcome) -> None:
        row = webhook_repository.delivery(session, delivery_id)
        endpoint = webhook_repository.endpoint_locked(session, self.endpoint_id)
        if row is None or endpoint is None:
            return
        now = utcnow()
        row.attempts += 1
        row.last_attempt_at = now
        row.first_attempt_at = row.first_attempt_at or now
        row.response_status = outcome.status
        row.response_body = outcome.body
        row.duration_ms = outcome.duration_ms
        row.error = outcome.error
        if outcome.succeeded:
            row.status = DeliveryStatus.SUCCEEDED.value
            row.next_attempt_at = None
            endpoint.failing_since = None
            endpoint.failures_in_a_row = 0
            return
        endpoint.failing_since = endpoint.failing_since or now
        endpoint.failures_in_a_row += 1
        honoured = outcome.retry_after if outcome.status in (429, 503) else None
        delay = retry_delay(self.settings, row.attempts, honoured)
        if delay is None:
            row.status = DeliveryStatus.FAILED.value
            row.next_attempt_at = None
        else:
            row.next_attempt_at = now + timedelta(seconds=delay)
        reason = self._disable_reason(endpoint, outcome, now)
        if reason is not None:
            self._disable(session, endpoint, reason)

    def _disable_reason(
        self, endpoint: WebhookEndpoint, outcome: attempt.Outcome, now: datetime
    ) -> str | None:
        if outcome.status == 410:
            return "the endpoint answered 410 Gone"
        settings = self.settings
        if endpoint.failing_since and now - endpoint.failing_since >= timedelta(
            hours=settings.disable_after_hours
        ):
            return f"every attempt failed since {endpoint.failing_since:%Y-%m-%d %H:%M} UTC"
        if settings.disable_after_failures and endpoint.failures_in_a_row >= settings.disable_after_failures:
            return f"{endpoint.failures_in_a_row} attempts in a row failed"
        return None

    def _disable(self, session: Session, endpoint: WebhookEndpoint, reason: str) -> None:
        endpoint.enabled = False
        endpoint.disabled_reason = reason
        logger.warning("webhook endpoint %s disabled: %s", endpoint.id, reason)
        system = Actor(ActorType.SYSTEM, label="webhook delivery")
        session.execute(
            event_insert(
                AuditAction.WEBHOOK_ENDPOINT_DISABLED,
                system,
                target_type="webhook_endpoint",
                target_id=endpoint.id,
                details={"url": endpoint.url, "reason": reason},
            )
        )
        recipients = webhook_repository.admin_emails(session)
        if recipients:
            page = get_settings().tenant_url(self.tenant.slug, f"/webhooks/{endpoint.id}")
            send_email_later(
                session,
                to=recipients,
                template=DISABLED_EMAIL,
                context={
                    "tenant_name": self.tenant.name,
                    "endpoint_address": endpoint.url,
                    "reason": reason,
                    "manage_url": page,
                },
                tenant_id=self.tenant_id,
            )
