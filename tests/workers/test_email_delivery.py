"""Email through the whole path: outbox, relay, a real worker, a real SMTP server; retries and refusals."""

from __future__ import annotations

import email
import uuid
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.support.processes import WorkerProcess, wait_until
from tests.workers.email.smtp_servers import FROM, Recorder
from workers.email.sink import EphemeralPortController
from workers.email.tasks import send_email_later

RESET_CONTEXT = {"reset_url": "https://alpha.example.com/reset?token=s3cr3t-token", "expires_in_hours": 2}


class FlakyRecorder(Recorder):
    """Answers 451 to the DATA of recipients listed in `flaky` the first time, then accepts."""

    def __init__(self) -> None:
        super().__init__()
        self.flaky: set[str] = set()
        self.attempts: dict[str, int] = {}

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Fail once per flaky recipient, then accept."""
        key = envelope.rcpt_tos[0]
        self.attempts[key] = self.attempts.get(key, 0) + 1
        if key in self.flaky and self.attempts[key] == 1:
            return "451 4.3.0 Try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture(scope="module")
def smtp() -> Any:
    """A real SMTP server for the module's worker."""
    controller = EphemeralPortController(
        FlakyRecorder(), hostname="127.0.0.1", port=0, server_hostname="smtp.test"
    )
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture(scope="module")
def mail_worker(worker_env, celery, smtp, tmp_path_factory) -> Any:
    """A worker that sends mail to the test SMTP server, retrying fast."""
    env = {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_FROM_ADDRESS": FROM,
        "SMTP_RETRY_BACKOFF_SECONDS": "0.2",
        "SMTP_RETRY_BACKOFF_MAX_SECONDS": "0.5",
        "SMTP_MAX_RETRIES": "3",
    }
    process = WorkerProcess(worker_env, "mail", tmp_path_factory.mktemp("mail") / "worker.log", env)
    process.wait_ready(celery)
    yield process
    process.stop()


def _send(sync_db, **kwargs: Any) -> uuid.UUID:
    with sync_db.sync_session() as session:
        message_id = send_email_later(session, **kwargs)
        session.commit()
    return message_id


def _received(smtp, address: str) -> list[Message]:
    return [
        email.message_from_bytes(e.original_content) for e in smtp.handler.envelopes if address in e.rcpt_tos
    ]


def test_email_arrives_with_headers_and_both_parts(sync_db, smtp, relay, mail_worker):
    to = f"ada-{uuid.uuid4().hex[:6]}@example.com"
    message_id = _send(sync_db, to=[to], template="password_reset", context=RESET_CONTEXT)
    [msg] = wait_until(lambda: _received(smtp, to))
    assert msg["Subject"] == "Reset your password"
    assert msg["From"] == FROM
    assert msg["To"] == to
    assert msg["Message-ID"] == f"<{message_id}@platform.test>"
    assert msg["X-Platform-Template"] == "password_reset"
    assert msg.get_content_type() == "multipart/alternative"
    parts = {part.get_content_type(): part.get_payload(decode=True).decode() for part in msg.get_payload()}
    assert set(parts) == {"text/plain", "text/html"}
    assert RESET_CONTEXT["reset_url"] in parts["text/plain"]
    assert "reset?token=s3cr3t-token" in parts["text/html"]
    assert "s3cr3t-token" not in mail_worker.output()  # never in logs


def test_transient_failure_is_retried_until_delivered(sync_db, smtp, relay, mail_worker):
    to = f"flaky-{uuid.uuid4().hex[:6]}@example.com"
    smtp.handler.flaky.add(to)
    _send(sync_db, to=[to], template="password_reset", context=RESET_CONTEXT)
    wait_until(lambda: _received(smtp, to))
    assert smtp.handler.attempts[to] == 2
    assert len(_received(smtp, to)) == 1


def test_permanent_failure_is_logged_once_and_not_retried(sync_db, smtp, relay, mail_worker):
    refused, sentinel = f"gone-{uuid.uuid4().hex[:6]}@example.com", f"next-{uuid.uuid4().hex[:6]}@example.com"
    smtp.handler.refuse[refused] = "550 5.1.1 No such user"
    since = mail_worker.mark()
    _send(sync_db, to=[refused], template="password_reset", context=RESET_CONTEXT)
    _send(sync_db, to=[sentinel], template="password_reset", context=RESET_CONTEXT)
    wait_until(lambda: _received(smtp, sentinel))
    wait_until(lambda: "permanent failure, not retried" in mail_worker.output(since))
    assert mail_worker.output(since).count("permanent failure, not retried") == 1
    assert _received(smtp, refused) == []
