"""Failures of email delivery, split by what the sender should do next: retry later, or give up."""

from __future__ import annotations


class EmailError(Exception):
    """An email could not be rendered or sent; `code` is the SMTP reply code when there was one."""

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message)
        self.code = code


class TransientEmailError(EmailError):
    """The same email may go through later: the server was unreachable, busy, or answered 4xx."""


class PermanentEmailError(EmailError):
    """Sending the same email again will fail again: a 5xx reply, a bad address, a bad template."""


class InvalidRecipient(PermanentEmailError):
    """An address is not a syntactically valid email address."""


class UnknownTemplate(PermanentEmailError):
    """No email template has this name."""


class TemplateContextError(PermanentEmailError):
    """The context of a template lacks variables it needs, or the template itself is broken."""
