"""shared.mail renders well-formed RFC 5322 bytes: CRLF only, the expected headers, both parts,
and no CR/LF from data ever reaching a header."""

from __future__ import annotations

import re
from email import message_from_bytes, policy

import pytest

from shared.mail import Email, Sender, render

SENDER = Sender("Beacon <beacon@school.example>")
BARE_LINE_BREAK = re.compile(rb"(?<!\r)\n|\r(?!\n)")


def parse(raw: bytes):  # type: ignore[no-untyped-def]
    assert not BARE_LINE_BREAK.search(raw), "a bare CR or LF"
    msg = message_from_bytes(raw, policy=policy.default)
    assert all(not part.defects for part in msg.walk()), [p.defects for p in msg.walk()]
    return msg


def test_every_header_mail_systems_expect_and_both_parts() -> None:
    msg = parse(render(SENDER, Email("a@school.example", "Hello", "Hi £5\n", "<p>Hi £5</p>", "x")))
    assert msg["From"] == "Beacon <beacon@school.example>" and msg["To"] == "a@school.example"
    assert msg["Date"] and msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"].endswith(".x@school.example>")
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Auto-Response-Suppress"] == "All"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert all(p["Content-Transfer-Encoding"] == "quoted-printable" for p in msg.iter_parts())
    assert msg.get_body(("plain",)).get_content() == "Hi £5\r\n"  # the wire's line ends
    assert msg.get_body(("html",)).get_content() == "<p>Hi £5</p>\r\n"


def test_a_given_message_id_is_kept_on_the_senders_domain() -> None:
    email = Email("a@school.example", "s", "t", "h", "alert", "alert-1234")
    assert parse(render(SENDER, email))["Message-ID"] == "<alert-1234@school.example>"


def test_data_never_breaks_a_header_line() -> None:
    subject = "Ä long subject\r\nBcc: victim@example.com\n" + "word " * 40
    msg = parse(render(SENDER, Email("a@school.example", subject, "t", "h", "x")))
    assert msg["Bcc"] is None
    assert msg["Subject"] == " ".join(subject.split())


@pytest.mark.parametrize(
    "email",
    [
        Email("a@school.example\r\nBcc: v@example.com", "s", "t", "h", "x"),
        Email("A <a@school.example>", "s", "t", "h", "x"),
        Email("a@school.example", "s", "t", "h", "x", "id>\r\nBcc: v@example.com"),
        Email("a@school.example", "s", "t", "h", "bad kind"),
    ],
)
def test_what_cannot_be_written_safely_is_refused(email: Email) -> None:
    with pytest.raises(ValueError):
        render(SENDER, email)
