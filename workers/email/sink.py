"""A development SMTP server that accepts every message and stores it as an `.eml` file.

Next to each `NAME.eml` (the raw message, quoted-printable bodies and all) it writes `NAME.txt`: the
headers, the decoded plain-text body and every link of the message on one line each, to read or
click in an editor.
"""

from __future__ import annotations

import asyncio
import html
import logging
import os
import re
import tempfile
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path
from types import TracebackType
from typing import Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

logger = logging.getLogger("platform.email.sink")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DECODED = ("text/plain", "text/html")  # the parts whose links are listed
_LINK = re.compile(r"""https?://[^\s"'<>]+""")
DEFAULT_DEV_PORT = 10259  # `make dev`: 1025 (the usual unprivileged SMTP port) with a 9, like 54329


def readable(message: EmailMessage) -> str:
    """The message decoded for a person: main headers, the plain-text body, then every link."""
    lines = [f"{name}: {message[name]}" for name in ("From", "To", "Subject", "Date") if message[name]]
    parts = [html.unescape(p.get_content()) for p in message.walk() if p.get_content_type() in _DECODED]
    plain = message.get_body(preferencelist=("plain", "html"))
    links = dict.fromkeys(link.rstrip(".,;)") for text in parts for link in _LINK.findall(text))
    body = plain.get_content() if plain is not None else ""
    return "\n".join([*lines, "", body.rstrip(), "", "Links:", *(f"  {link}" for link in links), ""])


class EphemeralPortController(Controller):
    """An aiosmtpd Controller that may listen on port 0 and then knows the port it was given."""

    def _trigger_server(self) -> None:
        # The controller's loop made it with create_server, so it is an asyncio.Server (which has sockets).
        server = cast("asyncio.Server | None", self.server)
        if server is not None and server.sockets:
            self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()


def eml_name(subject: str | None, message_id: str | None, now: datetime | None = None) -> str:
    """Return a file name for a message: UTC timestamp, then its subject (or Message-ID) made path-safe."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%S.%fZ")
    label = _UNSAFE.sub("-", subject or message_id or "").strip("-.")[:60].rstrip("-.")
    return f"{stamp}-{label or 'message'}.eml"


class _StoreHandler:
    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        content = envelope.original_content or b""
        message = BytesParser(policy=default_policy).parsebytes(content)
        assert isinstance(message, EmailMessage)  # what the default policy builds
        path = self._reserve(eml_name(message["Subject"], message["Message-ID"]))
        # Postfix's delivery headers, so the envelope (Bcc included) shows in the file.
        recipients = ", ".join(envelope.rcpt_tos)
        prefix = f"Return-Path: <{envelope.mail_from}>\r\nX-Original-To: {recipients}\r\n".encode()
        # Write aside, then rename over the reserved name: a reader never sees half a message. The
        # decoded copy comes first, so it is there once the .eml is.
        self._write(path.with_suffix(".txt"), readable(message).encode())
        self._write(path, prefix + content)
        logger.info("mail from %s to %s saved to %s", envelope.mail_from, recipients, path)
        return "250 Message accepted for delivery"

    def _write(self, path: Path, data: bytes) -> None:
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".incoming-", suffix=".tmp")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)

    def _reserve(self, name: str) -> Path:
        """Create an empty file of a name no other message has (`~2`, `~3`... on a clash)."""
        stem, counter = name.removesuffix(".eml"), 1
        while True:
            path = self.directory / (name if counter == 1 else f"{stem}~{counter}.eml")
            try:
                path.touch(exist_ok=False)
                return path
            except FileExistsError:
                counter += 1


class MailSink:
    """Receive mail on `host:port` (0: any free port) and store each message under `directory`."""

    def __init__(self, directory: Path, host: str = "127.0.0.1", port: int = 0) -> None:
        self.directory = Path(directory)
        self.host = host
        self._port = port
        self._controller: EphemeralPortController | None = None

    @property
    def port(self) -> int:
        """The port the sink listens on (the one it was given, once started on port 0)."""
        return self._controller.port if self._controller is not None else self._port

    def start(self) -> Self:
        """Start listening in a background thread."""
        self.directory.mkdir(parents=True, exist_ok=True)
        controller = EphemeralPortController(
            _StoreHandler(self.directory),
            hostname=self.host,
            port=self._port,
            server_hostname="mail-sink.localhost",  # not socket.getfqdn(): it may wait on DNS
        )
        controller.start()
        self._controller = controller
        logger.info("mail sink listening on %s:%d, storing in %s", self.host, self.port, self.directory)
        return self

    def stop(self) -> None:
        """Stop listening."""
        if self._controller is not None:
            self._controller.stop()
            self._port = self._controller.port
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
