"""The `email.send` task, its retry policy, and `send_email_later` to enqueue email in a transaction.

Delivery is at least once: a worker that dies after the server accepted a message but before the task
committed sends it again on redelivery. Every attempt of one task carries the same Message-ID (made from
the task id), so such a duplicate is recognisable, and a receiving MTA may drop it.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from platform_core.kernel import outbox
from platform_core.kernel.context import tenant_id_var
from workers.base import TaskContext, platform_task
from workers.email.addresses import parse_addresses
from workers.email.exceptions import InvalidRecipient, PermanentEmailError, TransientEmailError
from workers.email.render import render_email
from workers.email.sender import build_message, make_message_id, send_message
from workers.email.settings import EmailSettings, get_email_settings

logger = logging.getLogger("platform.email")
SEND_TASK = "email.send"


def retry_countdown(attempt: int, *, base: float, cap: float, rng: random.Random | None = None) -> float:
    """Return the delay before retry `attempt` (0-based): exponential backoff with full jitter, capped."""
    ceiling = min(cap, base * 2 ** min(max(attempt, 0), 32))
    return (rng or random).uniform(0, ceiling)


def deliver(
    ctx: TaskContext,
    *,
    to: str | list[str],
    template: str,
    context: Mapping[str, Any],
    reply_to: str | None = None,
    settings: EmailSettings | None = None,
) -> None:
    """Render and send one email for task `ctx`; retry transient failures and log permanent ones.

    A permanent failure (5xx reply, bad address, bad template, TLS or AUTH misconfiguration) is logged
    at ERROR and the task returns normally: retrying cannot help, raising would only add a second,
    noisier report of the same fault, and returning commits the task run so that a redelivered copy is
    not tried again. ERROR log lines reach Sentry through its logging integration. The same holds when
    transient failures have used up `max_retries`. Log lines carry the template, the task id and the
    reason, never the body or the context (which holds tokens such as reset links).
    """
    settings = settings or get_email_settings()
    label = f"{template}[{ctx.task_id}]"
    try:
        rendered = render_email(template, context)
        msg = build_message(
            rendered,
            to=to,
            from_address=settings.from_address,
            reply_to=reply_to,
            message_id=make_message_id(ctx.task_id, settings.from_address),
            headers={"X-Platform-Template": template},
        )
        refused = send_message(msg, settings)
    except PermanentEmailError as exc:
        logger.error("email %s not sent, permanent failure, not retried: %s", label, exc)
        return
    except TransientEmailError as exc:
        if ctx.attempt >= settings.max_retries:
            logger.error("email %s not sent, giving up after %d attempts: %s", label, ctx.attempt + 1, exc)
            return
        countdown = retry_countdown(
            ctx.attempt, base=settings.retry_backoff_seconds, cap=settings.retry_backoff_max_seconds
        )
        logger.warning(
            "email %s not sent, retry %d/%d in %.0fs: %s",
            label,
            ctx.attempt + 1,
            settings.max_retries,
            countdown,
            exc,
        )
        raise ctx.task.retry(exc=exc, countdown=countdown, max_retries=settings.max_retries) from exc
    if refused:
        # The others got it: retrying would send it to them twice.
        detail = ", ".join(f"{address}: {code}" for address, (code, _) in refused.items())
        logger.warning("email %s not delivered to some recipients, not retried: %s", label, detail)
    count = len(msg["To"].addresses)
    logger.info("email %s sent to %d recipient(s) as %s", label, count, msg["Message-ID"])


# No max_retries here: deliver() passes SMTP_MAX_RETRIES to each retry, and reading the settings at
# import would make a bad SMTP_* value fail every `platformctl` command before it can report it.
@platform_task(SEND_TASK)
def send_email(
    ctx: TaskContext,
    *,
    to: list[str] | str,
    template: str,
    context: dict[str, Any],
    reply_to: str | None = None,
    tenant_id: str | None = None,
) -> None:
    """Send one templated email; retry transient SMTP failures with backoff, log permanent ones.

    A platform task, not a tenant task: mail such as `payment_failed` must reach a suspended tenant.
    `tenant_id` (set by the outbox when given) only labels the logs.
    """
    token = tenant_id_var.set(tenant_id)
    try:
        deliver(ctx, to=to, template=template, context=context, reply_to=reply_to)
    finally:
        tenant_id_var.reset(token)


def _checked_kwargs(
    to: str | Iterable[str], template: str, context: Mapping[str, Any], reply_to: str | None
) -> dict[str, Any]:
    # Fail in the caller's request, not later in a worker: bad template, missing variable, bad address.
    render_email(template, context)
    recipients = [str(address) for address in parse_addresses(to)]
    if not recipients:
        raise InvalidRecipient("an email needs at least one recipient")
    if reply_to:
        parse_addresses(reply_to)
    return {"to": recipients, "template": template, "context": dict(context), "reply_to": reply_to}


def send_email_later(
    session: Session,
    *,
    to: str | Iterable[str],
    template: str,
    context: Mapping[str, Any],
    reply_to: str | None = None,
    tenant_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """Enqueue an email in the session's transaction: it is sent only if that transaction commits."""
    kwargs = _checked_kwargs(to, template, context, reply_to)
    return outbox.enqueue(session, SEND_TASK, tenant_id=tenant_id, **kwargs)


async def send_email_later_async(
    session: AsyncSession,
    *,
    to: str | Iterable[str],
    template: str,
    context: Mapping[str, Any],
    reply_to: str | None = None,
    tenant_id: uuid.UUID | str | None = None,
) -> uuid.UUID:
    """`send_email_later` for the API's async sessions."""
    kwargs = _checked_kwargs(to, template, context, reply_to)
    return await outbox.enqueue_async(session, SEND_TASK, tenant_id=tenant_id, **kwargs)
