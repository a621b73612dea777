"""Channels a connection may subscribe to, and who may.

A channel name is `<kind>` or `<kind>.<suffix>` (`items`, `jobs`, `chat.<room id>`). Each kind has an
authorizer, asked on every subscribe with a session bound to the tenant and the principal as it is now:
`(session, principal, suffix) -> bool`, where `suffix` is what follows the first dot ("" for none). An
authorizer must answer False (never raise) for a suffix it does not know: the client gets one
`forbidden` error for a channel that does not exist and one it may not read, so neither is revealed.

`AUTHORIZERS` holds the built-in kinds; another domain adds its own from the assembly (the app factory),
since this package must not import the domains above it:

    AUTHORIZERS["chat"] = chat_service.can_subscribe
    CLIENT_PUBLISH["chat"] = chat_service.can_subscribe   # clients may send typing indicators there

`CLIENT_PUBLISH` names the kinds on which clients may `publish` ephemeral events (typing, presence) and
who may; those events are relayed to the channel's subscribers and never stored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from platform_core.access.permissions import Permission
from platform_core.access.principal import Principal
from platform_core.kernel.realtime import CHANNEL

Authorizer = Callable[[AsyncSession, Principal, str], Awaitable[bool]]
# Stores a message a client sent on a channel (`publish` with event `message`) and returns what the
# acknowledgement carries (the stored message's id); raises an AppError to refuse it.
MessageStore = Callable[[AsyncSession, Principal, str, Any], Awaitable[dict[str, Any]]]


def split(channel: str) -> tuple[str, str] | None:
    """A valid channel name's kind and suffix; None for an invalid name."""
    if not isinstance(channel, str) or not CHANNEL.match(channel):
        return None
    kind, _, suffix = channel.partition(".")
    return kind, suffix


async def can_read_items(session: AsyncSession, principal: Principal, suffix: str) -> bool:
    """`items`: item changes, for those who may read items."""
    return suffix == "" and principal.can(Permission.ITEMS_READ)


async def can_read_jobs(session: AsyncSession, principal: Principal, suffix: str) -> bool:
    """`jobs`: progress of jobs; each user receives only the events of their own jobs."""
    return suffix == "" and principal.can(Permission.JOBS_READ)


AUTHORIZERS: dict[str, Authorizer] = {"items": can_read_items, "jobs": can_read_jobs}
CLIENT_PUBLISH: dict[str, Authorizer] = {}
# Channel kinds whose `message` events from clients are stored by their domain (chat rooms), rather than
# relayed as ephemeral events: stored and committed before the client's acknowledgement.
CLIENT_MESSAGES: dict[str, MessageStore] = {}
