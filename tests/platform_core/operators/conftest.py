"""Operators inside the test transaction, and clients on the operator host."""

from __future__ import annotations

import functools
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import delete

from platform_core.kernel.security.passwords import hash_password
from platform_core.kernel.security.tokens import SigningKeys, issue_access_token
from platform_core.kernel.settings import Settings
from platform_core.operators.models import Operator
from platform_core.operators.service import OPERATOR_AUDIENCE
from tests.conftest import BASE_DOMAIN, client_for

OPERATOR_HOST = f"admin.{BASE_DOMAIN}"
OPERATOR_PASSWORD = "operator pass phrase 42"


@functools.cache
def operator_password_hash() -> str:
    """The argon2id hash of OPERATOR_PASSWORD, computed once per test process."""
    return hash_password(OPERATOR_PASSWORD)


def unique_email(prefix: str = "op") -> str:
    """An operator email no other test uses (operators created by the CLI are committed)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}@ops.example.org"


async def create_operator(db: Any, *, email: str | None = None, is_active: bool = True) -> Operator:
    """Persist an operator in `public` (inside the test transaction)."""
    operator = Operator(
        id=uuid.uuid4(),
        email=email or unique_email(),
        full_name="Olga Operator",
        password_hash=operator_password_hash(),
        is_active=is_active,
    )
    async with db.session(None) as session:
        session.add(operator)
        await session.commit()
    return operator


def operator_token(settings: Settings, subject: uuid.UUID | str, **kwargs: Any) -> str:
    """An operator access token for `subject` (pass `now=` or `ttl_seconds=` to age it)."""
    keys = SigningKeys.parse(settings.signing_keys_spec)
    return issue_access_token(keys, subject=str(subject), audience=OPERATOR_AUDIENCE, **kwargs)


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for `token`."""
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def operator(db: Any) -> Operator:
    """An active operator."""
    return await create_operator(db)


@pytest.fixture
async def admin_anon(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the operator host with no credentials."""
    async with client_for(app, OPERATOR_HOST) as client:
        yield client


@pytest.fixture
async def admin(app: Any, settings: Settings, operator: Operator) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the operator host signed in as `operator`."""
    async with client_for(app, OPERATOR_HOST) as client:
        client.headers.update(bearer(operator_token(settings, operator.id)))
        yield client


@pytest.fixture
def live_operator(sync_db: Any) -> Iterator[Operator]:
    """An active operator committed for real, for `live_app`; deleted after the test."""
    operator = Operator(
        id=uuid.uuid4(),
        email=unique_email("live"),
        full_name="Olga Operator",
        password_hash=operator_password_hash(),
        is_active=True,
    )
    with sync_db.sync_session() as session, session.begin():
        session.add(operator)
    yield operator
    with sync_db.sync_session() as session, session.begin():
        session.execute(delete(Operator).where(Operator.id == operator.id))


@pytest.fixture
async def live_admin(
    live_app: Any, settings: Settings, live_operator: Operator
) -> AsyncIterator[httpx.AsyncClient]:
    """A client on the operator host of `live_app`, signed in as `live_operator`: what a route commits
    is seen by every connection, the host resolver's included (as in production)."""
    async with client_for(live_app, OPERATOR_HOST) as client:
        client.headers.update(bearer(operator_token(settings, live_operator.id)))
        yield client
