"""Helpers of the email tests: an aiosmtpd handler that records and refuses, and an authenticator."""

from __future__ import annotations

from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

FROM = "Platform <no-reply@platform.test>"


class Recorder:
    """An aiosmtpd handler that keeps what it accepts; `replies` answers a stage, `refuse` a recipient."""

    def __init__(self) -> None:
        self.envelopes: list[Envelope] = []
        self.sessions: list[Session] = []
        self.replies: dict[str, str] = {}  # "MAIL" | "RCPT" | "DATA" -> reply line
        self.refuse: dict[str, str] = {}  # recipient -> reply line

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if "MAIL" in self.replies:
            return self.replies["MAIL"]
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        reply = self.replies.get("RCPT") or self.refuse.get(address)
        if reply:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if "DATA" in self.replies:
            return self.replies["DATA"]
        self.envelopes.append(envelope)
        self.sessions.append(session)
        return "250 Message accepted"


class Authenticator:
    """Accepts one login and password."""

    def __init__(self, login: str, password: str) -> None:
        self.login = login.encode()
        self.password = password.encode()

    def __call__(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
            self.login,
            self.password,
        )
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)
