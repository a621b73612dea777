"""Build MIME messages and send them over SMTP, classifying every failure as transient or permanent."""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

from workers.email.addresses import parse_addresses
from workers.email.exceptions import EmailError, InvalidRecipient, PermanentEmailError, TransientEmailError
from workers.email.render import RenderedEmail
from workers.email.settings import EmailSettings, TlsMode

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9._-]+")


def _domain_of(address: str) -> str:
    return parse_addresses(address)[0].domain or "localhost"


def make_message_id(task_id: str, from_address: str) -> str:
    """Return the Message-ID of the email sent by task `task_id`: the same on every retry of the task."""
    return f"<{_UNSAFE_ID.sub('-', task_id).strip('-') or 'email'}@{_domain_of(from_address)}>"


def build_message(
    rendered: RenderedEmail,
    *,
    to: str | Iterable[str],
    from_address: str,
    reply_to: str | None = None,
    message_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> EmailMessage:
    """Build a multipart/alternative (text, then HTML) message; InvalidRecipient on a bad address."""
    recipients = parse_addresses(to)
    if not recipients:
        raise InvalidRecipient("an email needs at least one recipient")
    sender = parse_addresses(from_address)
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = recipients
    if reply_to:
        msg["Reply-To"] = parse_addresses(reply_to)
    msg["Subject"] = rendered.subject
    msg["Date"] = format_datetime(datetime.now(UTC))
    msg["Message-ID"] = message_id or make_msgid(domain=sender[0].domain)
    # RFC 3834: keeps out-of-office replies and autoresponders from answering.
    msg["Auto-Submitted"] = "auto-generated"
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(rendered.text)
    msg.add_alternative(rendered.html, subtype="html")
    return msg


def envelope_recipients(msg: EmailMessage) -> list[str]:
    """Return the validated addr-specs of To, Cc and Bcc; InvalidRecipient if one is bad or none is given."""
    fields = [str(value) for name in ("To", "Cc", "Bcc") for value in msg.get_all(name, [])]
    addresses = parse_addresses(fields) if fields else []
    if not addresses:
        raise InvalidRecipient("the message has no recipient")
    return [address.addr_spec for address in addresses]


def classify_error(exc: BaseException) -> EmailError:
    """Return the TransientEmailError or PermanentEmailError that `exc`, raised by smtplib, amounts to."""
    if isinstance(exc, EmailError):
        return exc
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = {address: code for address, (code, _) in exc.recipients.items()}
        detail = ", ".join(f"{address}: {code}" for address, code in codes.items())
        worst = max(codes.values(), default=None)
        if codes and all(400 <= code < 500 for code in codes.values()):
            return TransientEmailError(f"all recipients refused for now ({detail})", code=worst)
        return PermanentEmailError(f"all recipients refused ({detail})", code=worst)
    if isinstance(exc, smtplib.SMTPResponseException):
        code = int(exc.smtp_code)
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode("utf-8", "replace")
        auth = isinstance(exc, smtplib.SMTPAuthenticationError)
        what = "authentication failed" if auth else "server replied"
        message = f"{what}: {code} {reply}".strip()
        if 500 <= code < 600:
            return PermanentEmailError(message, code=code)
        return TransientEmailError(message, code=code)  # 4xx, or a reply smtplib could not read
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return TransientEmailError(f"server disconnected: {exc}")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentEmailError(f"server does not support what the settings ask for: {exc}")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentEmailError(f"server certificate not trusted: {exc}")
    if isinstance(exc, smtplib.SMTPException):  # e.g. no AUTH mechanism in common: a configuration error
        return PermanentEmailError(f"SMTP error: {exc}")
    # After smtplib's errors, which are OSErrors too: refused, reset, timed out, name not resolved,
    # TLS handshake cut short.
    if isinstance(exc, OSError):
        return TransientEmailError(f"cannot reach the SMTP server: {exc!r}")
    return PermanentEmailError(f"unexpected error while sending: {exc!r}")


def _connect(settings: EmailSettings, context: ssl.SSLContext) -> smtplib.SMTP:
    if settings.tls is TlsMode.SSL:
        return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout, context=context)
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)
    if settings.tls is TlsMode.STARTTLS:
        try:
            smtp.starttls(context=context)
        except BaseException:
            smtp.close()
            raise
    return smtp


def send_message(
    msg: EmailMessage, settings: EmailSettings, *, ssl_context: ssl.SSLContext | None = None
) -> dict[str, tuple[int, bytes]]:
    """Send `msg` as configured; return the recipients the server refused when it accepted others.

    Raises TransientEmailError or PermanentEmailError. Recipients are validated before connecting.
    TLS verifies the server against the system CAs (or `SSL_CERT_FILE`) unless `ssl_context` is given.
    """
    recipients = envelope_recipients(msg)
    sender = parse_addresses(str(msg["Sender"] or msg["From"]))[0].addr_spec
    context = ssl_context or ssl.create_default_context()
    try:
        smtp = _connect(settings, context)
    except (smtplib.SMTPException, OSError) as exc:
        raise classify_error(exc) from exc
    try:
        if settings.username:
            smtp.login(settings.username, settings.password.get_secret_value())
        refused = smtp.send_message(msg, from_addr=sender, to_addrs=recipients)
    except (smtplib.SMTPException, OSError) as exc:
        smtp.close()
        raise classify_error(exc) from exc
    # Accepted: a failing QUIT must not turn into a retry, which would send the message twice.
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()
    return refused
