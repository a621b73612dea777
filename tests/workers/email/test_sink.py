"""The development mail sink stores what it receives as .eml files, with a decoded copy beside each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default as default_policy
from pathlib import Path

import pytest

from tests.workers.email.smtp_servers import FROM
from workers.email import sink as sink_module
from workers.email.render import render_email
from workers.email.sender import build_message, make_message_id, send_message
from workers.email.settings import EmailSettings
from workers.email.sink import MailSink, eml_name

Settings = Callable[..., EmailSettings]


def reset_message(to: str = "ada@example.com", task_id: str = "task-1") -> EmailMessage:
    rendered = render_email(
        "password_reset", {"reset_url": "https://app.example.com/r?t=1", "expires_in_hours": 2}
    )
    return build_message(rendered, to=to, from_address=FROM, message_id=make_message_id(task_id, FROM))


def read(path: Path) -> EmailMessage:
    return BytesParser(policy=default_policy).parsebytes(path.read_bytes())


def test_received_mail_is_stored_as_eml(
    tmp_path: Path, make_settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "mail"
    caplog.set_level(logging.INFO, logger="platform.email.sink")

    with MailSink(directory) as sink:
        assert sink.port > 0
        send_message(reset_message("owner@demo.localhost"), make_settings(sink.port))

    (path,) = directory.glob("*.eml")
    assert path.name.endswith("-Reset-your-password.eml")
    stored = read(path)
    assert stored["Subject"] == "Reset your password"
    assert stored["Message-ID"] == "<task-1@platform.test>"
    assert stored["Return-Path"] == "<no-reply@platform.test>"
    assert stored["X-Original-To"] == "owner@demo.localhost"
    assert "https://app.example.com/r?t=1" in stored.get_body(("plain",)).get_content()
    assert any(str(path) in record.getMessage() for record in caplog.records)


def test_a_decoded_copy_lists_links_unwrapped(tmp_path: Path, make_settings: Settings) -> None:
    link = "https://acme.example.com/set-password?token=" + "t0ken-" * 20  # longer than a QP line
    rendered = render_email("password_reset", {"reset_url": link, "expires_in_hours": 2})
    message = build_message(
        rendered, to="ada@example.com", from_address=FROM, message_id="<m1@platform.test>"
    )

    with MailSink(tmp_path) as sink:
        send_message(message, make_settings(sink.port))

    (eml,) = tmp_path.glob("*.eml")
    assert link not in eml.read_text()  # quoted-printable wraps it in the raw message
    decoded = eml.with_suffix(".txt").read_text()
    assert "Subject: Reset your password" in decoded
    assert f"  {link}\n" in decoded.split("Links:")[1]  # one line, from both parts, once
    assert decoded.split("Links:")[1].count(link) == 1
    assert link in decoded.split("Links:")[0]  # the decoded plain-text body


def test_every_message_gets_its_own_file(
    tmp_path: Path, make_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sink_module, "eml_name", lambda subject, message_id: "same.eml")

    with MailSink(tmp_path) as sink:
        for n in range(3):
            send_message(reset_message(task_id=f"task-{n}"), make_settings(sink.port))

    names = sorted(path.name for path in tmp_path.glob("*.eml"))
    assert names == ["same.eml", "same~2.eml", "same~3.eml"]
    assert sorted(path.name for path in tmp_path.glob("*.txt")) == ["same.txt", "same~2.txt", "same~3.txt"]
    assert sorted(read(tmp_path / name)["Message-ID"] for name in names) == [
        "<task-0@platform.test>",
        "<task-1@platform.test>",
        "<task-2@platform.test>",
    ]


@pytest.mark.parametrize(
    ("subject", "message_id", "label"),
    [
        ("Reset your password", "<x@y>", "Reset-your-password"),
        ("../../etc/passwd", None, "etc-passwd"),
        (None, "<abc@platform.test>", "abc-platform.test"),
        ("", None, "message"),
        ("ÀÉ !!", None, "message"),
        ("x" * 200, None, "x" * 60),
    ],
)
def test_file_names_are_safe(subject: str | None, message_id: str | None, label: str) -> None:
    now = datetime(2026, 11, 21, 9, 30, 5, 123456, tzinfo=UTC)

    assert eml_name(subject, message_id, now) == f"20261121T093005.123456Z-{label}.eml"


def test_sink_stops(tmp_path: Path, make_settings: Settings) -> None:
    sink = MailSink(tmp_path).start()
    port = sink.port
    sink.stop()

    assert sink.port == port
    with pytest.raises(Exception, match="cannot reach"):
        send_message(reset_message(), make_settings(port))
