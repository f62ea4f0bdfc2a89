"""Every email Beacon sends, rendered in one place: an `Email` says what it is (who to, subject,
text and HTML bodies, kind), `render` turns it into RFC 5322 bytes with the headers mail
systems expect. A new kind of email is its text and its HTML; the envelope is always this one.

The bytes are assembled by hand instead of through `email.message.EmailMessage`: the email
package costs about 2 ms per message on this machine, which alone would cap the notifier below
500 emails/s. The structure is fixed (multipart/alternative, text then HTML, both
quoted-printable UTF-8, CRLF throughout), so a template is simple; the tests parse every
message with the email package to prove it is well formed. Header values never carry CR/LF
from data: every value is collapsed to one line before it is written.
"""

from __future__ import annotations

import binascii
import re
import time
from email.header import Header
from email.utils import formataddr, formatdate, make_msgid, parseaddr
from functools import lru_cache
from typing import NamedTuple

# "=_" never occurs in quoted-printable ("=" is always followed by hex digits or a line
# break), so one fixed boundary can never collide with a body.
BOUNDARY = "=_beacon_alternative"
_CONTENT_TYPE = f'Content-Type: multipart/alternative; boundary="{BOUNDARY}"\r\n'
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


class Email(NamedTuple):
    """One email to one mailbox. Bodies are plain `str`; the renderer encodes them. (A
    NamedTuple: immutable like a frozen dataclass at a third of the cost, on the hot path.)"""

    to: str
    subject: str
    text: str
    html: str
    kind: str  # "alert", "set-password": names generated Message-IDs
    # The Message-ID's local part when the caller needs it deterministic (alerts: a resend
    # after a crash between the relay's 250 and the commit then collapses in clients).
    message_id: str | None = None


class Sender:
    """Who every email comes from (SMTP_FROM), parsed once; caches the Date header per second."""

    def __init__(self, smtp_from: str) -> None:
        name, address = parseaddr(one_line(smtp_from))
        if "@" not in address:
            raise ValueError(f"not a sender address: {smtp_from!r}")
        self.address = address  # the envelope's MAIL FROM
        self.domain = address.rpartition("@")[2]
        self.from_header = header(formataddr((name, address)) if name else address)
        self._date_second = -1
        self._date = ""

    def message_id(self, local: str | None, kind: str) -> str:
        if local is None:
            return make_msgid(_token(kind), domain=self.domain)
        return f"<{_token(local)}@{self.domain}>"

    def date(self) -> str:
        second = int(time.time())
        if second != self._date_second:  # formatdate is slow enough to matter at 1,000/s
            self._date_second, self._date = second, formatdate(second, usegmt=True)
        return self._date


def render(sender: Sender, email: Email) -> bytes:
    head = (
        f"From: {sender.from_header}\r\nTo: {mailbox(email.to)}\r\n"
        f"Subject: {header(email.subject)}\r\nDate: {sender.date()}\r\n"
        f"Message-ID: {sender.message_id(email.message_id, email.kind)}\r\n"
        "MIME-Version: 1.0\r\n"
        "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n"
        f"{_CONTENT_TYPE}\r\n"
    )
    return b"".join(
        (
            head.encode(),
            _part("plain", email.text),
            _part("html", email.html),
            f"--{BOUNDARY}--\r\n".encode(),
        )
    )


def one_line(value: str) -> str:
    """Data (names from the school) never breaks a line: CR/LF would inject headers."""
    return " ".join(value.split())


@lru_cache(maxsize=4096)
def header(value: str) -> str:
    """A header value on one logical line, RFC 2047-encoded when not ASCII, folded with CRLF."""
    # Every recipient of one event shares the subject, so the cache saves most encodings.
    value = one_line(value)
    if value.isascii() and len(value) <= 68:
        return value
    charset = "us-ascii" if value.isascii() else "utf-8"
    # lstrip: a word too long to fold would otherwise open with an empty first line.
    return Header(value, charset, header_name="Subject").encode(linesep="\r\n").lstrip()


@lru_cache(maxsize=4096)  # the same staff are alerted again and again
def mailbox(value: str) -> str:
    address = one_line(value)
    if "@" not in address or any(c in address for c in ',<>" ();:'):
        raise ValueError(f"not a single mailbox: {address!r}")
    return address


def _token(value: str) -> str:
    if not _TOKEN.match(value):
        raise ValueError(f"not a Message-ID part: {value!r}")
    return value


def _part(subtype: str, body: str) -> bytes:
    lf = body.replace("\r\n", "\n").replace("\r", "\n")
    if not lf.endswith("\n"):
        lf += "\n"
    encoded = binascii.b2a_qp(lf.encode(), istext=True).replace(b"\n", b"\r\n")
    head = (
        f"--{BOUNDARY}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    # The CRLF before a boundary belongs to the boundary: one more keeps the body's last one.
    return head.encode() + encoded + b"\r\n"
