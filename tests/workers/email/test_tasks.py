"""The body of `email.send` (retry policy, logs) and enqueueing; the Celery task itself runs elsewhere."""

from __future__ import annotations

import logging
import random
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select

from platform_core.kernel.outbox import OutboxMessage
from workers.email.exceptions import InvalidRecipient, TemplateContextError, UnknownTemplate
from workers.email.settings import EmailSettings
from workers.email.sink import EphemeralPortController
from workers.email.tasks import SEND_TASK, retry_countdown, send_email, send_email_later

Server = Callable[..., EphemeralPortController]
Settings = Callable[..., EmailSettings]
SECRET = "tok-5ecr3t"
CONTEXT = {"reset_url": f"https://app.example.com/reset?token={SECRET}", "expires_in_hours": 2}
RESET: dict[str, Any] = {"to": ["ada@example.com"], "template": "password_reset", "context": CONTEXT}


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="platform")
    return caplog


def platform_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.name.startswith("platform")]


def assert_no_secrets(caplog: pytest.LogCaptureFixture) -> None:
    for record in platform_lines(caplog):
        assert SECRET not in record.getMessage()
        assert "Choose a new password" not in record.getMessage()


class TestRetryCountdown:
    def test_grows_exponentially_within_full_jitter(self) -> None:
        rng = random.Random(7)
        for attempt in range(8):
            ceiling = min(3600.0, 30.0 * 2**attempt)
            samples = [retry_countdown(attempt, base=30, cap=3600, rng=rng) for _ in range(200)]
            assert all(0 <= sample <= ceiling for sample in samples)
            assert min(samples) < ceiling * 0.1  # full jitter: from about zero...
            assert max(samples) > ceiling * 0.9  # ...to about the ceiling

    def test_capped(self) -> None:
        rng = random.Random(1)
        assert all(retry_countdown(1000, base=30, cap=3600, rng=rng) <= 3600 for _ in range(100))

    def test_negative_attempt_counts_as_first(self) -> None:
        assert retry_countdown(-3, base=30, cap=3600, rng=random.Random(1)) <= 30


def test_task_is_registered_under_its_dotted_name() -> None:
    assert send_email.name == SEND_TASK == "email.send"


class TestSendEmailLater:
    def test_writes_the_task_to_the_outbox(self, sync_db: Any) -> None:
        with sync_db.sync_session() as session:
            message_id = send_email_later(
                session,
                to=["Ada <ada@example.com>"],
                template="password_reset",
                context=CONTEXT,
                tenant_id="6f1c8e52-0000-4000-8000-000000000001",
            )
            row = session.get(OutboxMessage, message_id)
            assert row is not None
            stored = (row.task_name, row.kwargs)
            session.rollback()
        assert stored[0] == "email.send"
        assert stored[1] == {
            "to": ["Ada <ada@example.com>"],
            "template": "password_reset",
            "context": CONTEXT,
            "reply_to": None,
            "tenant_id": "6f1c8e52-0000-4000-8000-000000000001",
        }

    @pytest.mark.parametrize(
        ("kwargs", "error"),
        [
            ({"template": "nope"}, UnknownTemplate),
            ({"context": {"expires_in_hours": 1}}, TemplateContextError),
            ({"to": "ada@"}, InvalidRecipient),
            ({"to": []}, InvalidRecipient),
            ({"reply_to": "support@"}, InvalidRecipient),
        ],
    )
    def test_refuses_what_would_fail_in_the_worker(
        self, sync_db: Any, kwargs: dict[str, Any], error: type[Exception]
    ) -> None:
        values: dict[str, Any] = {"to": "ada@example.com", "template": "password_reset", "context": CONTEXT}
        marker = f"refused-{error.__name__}"
        with sync_db.sync_session() as session:
            with pytest.raises(error):
                send_email_later(session, **{**values, "context": {**CONTEXT, "marker": marker}, **kwargs})
            written = session.scalars(
                select(OutboxMessage).where(OutboxMessage.kwargs["context"]["marker"].astext == marker)
            ).all()
            session.rollback()
        assert written == []
