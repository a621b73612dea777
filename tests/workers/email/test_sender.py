"""Building messages and sending them to a real SMTP server (aiosmtpd): content, TLS, AUTH, failures."""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from typing import Any

import pytest

from tests.workers.email.smtp_servers import FROM, Authenticator
from workers.email.exceptions import InvalidRecipient, PermanentEmailError, TransientEmailError
from workers.email.render import RenderedEmail
from workers.email.sender import build_message, classify_error, make_message_id, send_message
from workers.email.settings import EmailSettings
from workers.email.sink import EphemeralPortController

RENDERED = RenderedEmail(
    subject="Café ready — “Q3”",
    text="Hello,\n\nYour report is ready: https://files.example.com/r?a=1&b=2\n",
    html='<!doctype html><html><body><p>Your report is <a href="https://files.example.com/r">ready</a>.</p></body></html>\n',
)
Server = Callable[..., EphemeralPortController]
Settings = Callable[..., EmailSettings]


def message(to: list[str] | str = "ada@example.com", **kwargs: Any) -> EmailMessage:
    return build_message(RENDERED, to=to, from_address=FROM, **kwargs)


def received(controller: EphemeralPortController) -> EmailMessage:
    (envelope,) = controller.handler.envelopes
    return BytesParser(policy=default_policy).parsebytes(envelope.original_content)


class TestBuildAndDeliver:
    def test_server_receives_multipart_alternative(
        self, smtp_server: Server, make_settings: Settings
    ) -> None:
        server = smtp_server()
        msg = message(
            ["Ada Lovelace <ada@example.com>", "grace@example.com"],
            reply_to="Support <support@example.com>",
            message_id=make_message_id("task-123", FROM),
            headers={"X-Platform-Template": "report_ready"},
        )

        refused = send_message(msg, make_settings(server.port))

        assert refused == {}
        (envelope,) = server.handler.envelopes
        assert envelope.mail_from == "no-reply@platform.test"
        assert envelope.rcpt_tos == ["ada@example.com", "grace@example.com"]
        got = received(server)
        assert got["From"] == FROM
        assert got["To"] == "Ada Lovelace <ada@example.com>, grace@example.com"
        assert got["Reply-To"] == "Support <support@example.com>"
        assert got["Subject"] == RENDERED.subject
        assert got["Message-ID"] == "<task-123@platform.test>"
        assert got["Date"].datetime.tzinfo is not None
        assert got["Auto-Submitted"] == "auto-generated"
        assert got["X-Platform-Template"] == "report_ready"
        assert got.get_content_type() == "multipart/alternative"
        text, html = got.iter_parts()
        assert text.get_content_type() == "text/plain"
        assert html.get_content_type() == "text/html"
        assert text.get_content_charset() == html.get_content_charset() == "utf-8"
        assert text.get_content().replace("\r\n", "\n") == RENDERED.text
        assert html.get_content().replace("\r\n", "\n") == RENDERED.html

    def test_message_id_follows_the_task_id(self) -> None:
        assert make_message_id("0b6f-42", FROM) == "<0b6f-42@platform.test>"
        assert make_message_id("0b6f-42", FROM) == make_message_id("0b6f-42", FROM)
        assert make_message_id("a b<c>@d", "x@mail.example.com") == "<a-b-c-d@mail.example.com>"

    def test_message_id_is_random_without_a_task(self) -> None:
        assert message()["Message-ID"] != message()["Message-ID"]

    def test_development_addresses_are_accepted(self, smtp_server: Server, make_settings: Settings) -> None:
        server = smtp_server()

        send_message(message(["owner@demo.localhost", "o@new.test"]), make_settings(server.port))

        assert server.handler.envelopes[0].rcpt_tos == ["owner@demo.localhost", "o@new.test"]

    def test_some_recipients_refused_are_reported(self, smtp_server: Server, make_settings: Settings) -> None:
        server = smtp_server()
        server.handler.refuse["gone@example.com"] = "550 5.1.1 No such user"

        refused = send_message(message(["ada@example.com", "gone@example.com"]), make_settings(server.port))

        assert refused == {"gone@example.com": (550, b"5.1.1 No such user")}
        assert server.handler.envelopes[0].rcpt_tos == ["ada@example.com"]


class TestRecipientValidation:
    @pytest.mark.parametrize(
        "address",
        [
            "not-an-address",
            "ada@",
            "@example.com",
            "ada@exa mple.com",
            "ada@example.com\r\nBcc: x@evil.com",
            "",
        ],
    )
    def test_invalid_address_is_permanent(self, address: str) -> None:
        with pytest.raises(InvalidRecipient):
            message(address)

    def test_no_recipient_is_permanent(self) -> None:
        with pytest.raises(InvalidRecipient):
            message([])

    def test_checked_before_connecting(self, make_settings: Settings, closed_port: int) -> None:
        msg = message()
        msg.replace_header("To", "ada@example.com, broken@@example.com")

        # A connection attempt would fail as transient (nothing listens): permanent proves none was made.
        with pytest.raises(InvalidRecipient):
            send_message(msg, make_settings(closed_port))


class TestFailures:
    @pytest.mark.parametrize("stage", ["MAIL", "RCPT", "DATA"])
    @pytest.mark.parametrize(
        ("reply", "error"),
        [
            ("451 4.3.0 Try again later", TransientEmailError),
            ("550 5.7.1 Rejected", PermanentEmailError),
        ],
    )
    def test_reply_codes(
        self, smtp_server: Server, make_settings: Settings, stage: str, reply: str, error: type[Exception]
    ) -> None:
        server = smtp_server()
        server.handler.replies[stage] = reply

        with pytest.raises(error) as caught:
            send_message(message(), make_settings(server.port))

        assert caught.value.code == int(reply[:3])
        assert server.handler.envelopes == []

    def test_connection_refused_is_transient(self, make_settings: Settings, closed_port: int) -> None:
        with pytest.raises(TransientEmailError, match="cannot reach"):
            send_message(message(), make_settings(closed_port))

    def test_silent_server_times_out_as_transient(self, make_settings: Settings) -> None:
        with socket.socket() as listener:  # accepts connections (backlog) and never greets
            listener.bind(("127.0.0.1", 0))
            listener.listen(1)
            settings = make_settings(listener.getsockname()[1], timeout=0.2)

            with pytest.raises(TransientEmailError):
                send_message(message(), settings)


class TestAuth:
    def test_login_with_credentials(self, smtp_server: Server, make_settings: Settings) -> None:
        server = smtp_server(authenticator=Authenticator("mailer", "s3cret"), auth_require_tls=False)

        send_message(message(), make_settings(server.port, username="mailer", password="s3cret"))

        (session,) = server.handler.sessions
        assert session.authenticated
        assert session.auth_data.login == b"mailer"

    def test_wrong_password_is_permanent(self, smtp_server: Server, make_settings: Settings) -> None:
        server = smtp_server(authenticator=Authenticator("mailer", "s3cret"), auth_require_tls=False)

        with pytest.raises(PermanentEmailError, match="authentication failed") as caught:
            send_message(message(), make_settings(server.port, username="mailer", password="wrong"))

        assert caught.value.code == 535
        assert server.handler.envelopes == []

    def test_credentials_for_a_server_without_auth_are_permanent(
        self, smtp_server: Server, make_settings: Settings
    ) -> None:
        server = smtp_server()

        with pytest.raises(PermanentEmailError):
            send_message(message(), make_settings(server.port, username="mailer", password="s3cret"))


class TestTls:
    @pytest.fixture
    def starttls_server(self, smtp_server: Server, server_tls: ssl.SSLContext) -> EphemeralPortController:
        return smtp_server(
            tls_context=server_tls,
            require_starttls=True,
            authenticator=Authenticator("mailer", "s3cret"),  # AUTH over TLS only (aiosmtpd's default)
        )

    def test_starttls_then_auth(
        self, starttls_server: EphemeralPortController, make_settings: Settings, client_tls: ssl.SSLContext
    ) -> None:
        settings = make_settings(starttls_server.port, tls="starttls", username="mailer", password="s3cret")

        send_message(message(), settings, ssl_context=client_tls)

        (session,) = starttls_server.handler.sessions
        assert session.ssl is not None
        assert session.authenticated

    def test_untrusted_certificate_is_permanent(
        self, starttls_server: EphemeralPortController, make_settings: Settings
    ) -> None:
        with pytest.raises(PermanentEmailError, match="certificate"):
            send_message(message(), make_settings(starttls_server.port, tls="starttls"))

    def test_starttls_not_offered_is_permanent(
        self, smtp_server: Server, make_settings: Settings, client_tls: ssl.SSLContext
    ) -> None:
        server = smtp_server()

        with pytest.raises(PermanentEmailError, match="STARTTLS"):
            send_message(message(), make_settings(server.port, tls="starttls"), ssl_context=client_tls)

        assert server.handler.envelopes == []

    def test_implicit_tls(
        self,
        smtp_server: Server,
        make_settings: Settings,
        server_tls: ssl.SSLContext,
        client_tls: ssl.SSLContext,
    ) -> None:
        server = smtp_server(ssl_context=server_tls)

        send_message(message(), make_settings(server.port, tls="ssl"), ssl_context=client_tls)

        assert len(server.handler.envelopes) == 1


@pytest.mark.parametrize(
    ("exc", "error"),
    [
        (smtplib.SMTPServerDisconnected("Connection unexpectedly closed"), TransientEmailError),
        (ConnectionResetError(104, "Connection reset by peer"), TransientEmailError),
        (TimeoutError("timed out"), TransientEmailError),
        (socket.gaierror(-3, "Temporary failure in name resolution"), TransientEmailError),
        (smtplib.SMTPConnectError(421, b"Too many connections"), TransientEmailError),
        (smtplib.SMTPConnectError(554, b"No SMTP service here"), PermanentEmailError),
        (smtplib.SMTPAuthenticationError(454, b"Temporary authentication failure"), TransientEmailError),
        (smtplib.SMTPAuthenticationError(535, b"Authentication credentials invalid"), PermanentEmailError),
        (
            smtplib.SMTPRecipientsRefused({"a@x.com": (450, b"busy"), "b@x.com": (451, b"later")}),
            TransientEmailError,
        ),
        (
            smtplib.SMTPRecipientsRefused({"a@x.com": (450, b"busy"), "b@x.com": (550, b"no")}),
            PermanentEmailError,
        ),
        (smtplib.SMTPNotSupportedError("SMTP AUTH extension not supported by server."), PermanentEmailError),
        (smtplib.SMTPException("No suitable authentication method found."), PermanentEmailError),
    ],
)
def test_classify_error(exc: BaseException, error: type[Exception]) -> None:
    assert type(classify_error(exc)) is error
