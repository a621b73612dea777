"""Read the emails a request queued (outbox rows in the test transaction) and the links they carry."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from sqlalchemy import select

from platform_core.kernel.outbox import OutboxMessage
from workers.email.tasks import SEND_TASK


async def queued_emails(db: Any, template: str, to: str | None = None) -> list[dict[str, Any]]:
    """The send-email tasks of one template (optionally to one address), oldest first."""
    async with db.session(None) as session:
        rows = (
            await session.execute(
                select(OutboxMessage.kwargs)
                .where(OutboxMessage.task_name == SEND_TASK)
                .order_by(OutboxMessage.created_at, OutboxMessage.id)
            )
        ).scalars()
        emails = [kwargs for kwargs in rows if kwargs["template"] == template]
    return [e for e in emails if to is None or to in e["to"]]


def token_in(url: str) -> str:
    """The `token` query parameter of an emailed link."""
    return parse_qs(urlsplit(url).query)["token"][0]


async def link_tokens(db: Any, template: str, url_key: str, to: str) -> set[str]:
    """The tokens of the links in every email of `template` to `to` (the outbox keeps no order within
    one transaction, so callers compare sets before and after an action)."""
    return {token_in(e["context"][url_key]) for e in await queued_emails(db, template, to)}


async def only_link_token(db: Any, template: str, url_key: str, to: str) -> str:
    """The token of the one email of `template` sent to `to`."""
    tokens = await link_tokens(db, template, url_key, to)
    assert len(tokens) == 1, f"expected one {template} email to {to}, found {len(tokens)}"
    return tokens.pop()
