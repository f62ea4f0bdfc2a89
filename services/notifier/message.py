"""Composing an alert email. Content-free by construction: the only inputs are an `AlertMail`
(author initials, category names, school name, incident reference, alert id, event kind), so
nothing that could carry a pupil's name, the write-up, an action's text or a file reaches here.

The MIME text is assembled by hand instead of through `email.message.EmailMessage`: the email
package costs about 2 ms per message on this machine, which alone would cap the notifier below
500 emails/s. The structure is fixed (multipart/alternative, text + HTML, both
quoted-printable), so a template is simple; the tests parse every message with the email
package to prove it is well formed.
"""

from __future__ import annotations

import binascii
import html
import time
import uuid
from dataclasses import dataclass
from email.header import Header
from email.utils import formataddr, formatdate, parseaddr
from functools import lru_cache

HEADLINES = {
    "incident": "New incident #{ref} at {school}",
    "action": "New action on incident #{ref} at {school}",
    "escalation": "Unread safeguarding alert escalated: incident #{ref} at {school}",
}


@dataclass(frozen=True, slots=True)
class AlertMail:
    alert_id: uuid.UUID
    to: str
    kind: str  # incident | action | escalation
    reference: int
    school: str
    categories: str  # "Group / Name, Group / Name"
    initials: str


class Composer:
    """Turns an AlertMail into RFC 5322 bytes; one per engine, built from the settings."""

    def __init__(self, smtp_from: str, base_url: str) -> None:
        name, address = parseaddr(smtp_from)
        self.envelope_from = address
        self.domain = address.rpartition("@")[2]
        self.base_url = base_url.rstrip("/")
        self._from = _header(formataddr((name, address)) if name else address)
        self._date_second = -1
        self._date = ""

    def message_id(self, alert_id: uuid.UUID) -> str:
        # Deterministic: a repeat after a crash between 250 and commit collapses in clients.
        return f"<alert-{alert_id}@{self.domain}>"

    def link(self, alert_id: uuid.UUID) -> str:
        return f"{self.base_url}/alerts/{alert_id}"

    def compose(self, mail: AlertMail) -> bytes:
        headline = HEADLINES[mail.kind].format(ref=mail.reference, school=_line(mail.school))
        subject = f"[Beacon] {headline}: {_line(mail.categories)} ({_line(mail.initials)})"
        boundary = f"=_beacon_{mail.alert_id.hex}"  # "=_" never occurs in quoted-printable
        head = (
            f"From: {self._from}\r\nTo: {_address(mail.to)}\r\nSubject: {_header(subject)}\r\n"
            f"Date: {self._now()}\r\nMessage-ID: {self.message_id(mail.alert_id)}\r\n"
            "Auto-Submitted: auto-generated\r\nX-Auto-Response-Suppress: All\r\n"
            "MIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'
        )
        text, markup = _bodies(headline, mail, self.link(mail.alert_id))
        return b"".join(
            (
                head.encode(),
                _part(boundary, "plain", text),
                _part(boundary, "html", markup),
                f"--{boundary}--\r\n".encode(),
            )
        )

    def _now(self) -> str:
        second = int(time.time())
        if second != self._date_second:  # formatdate is slow enough to matter at 1,000/s
            self._date_second, self._date = second, formatdate(second, usegmt=True)
        return self._date


def _bodies(headline: str, mail: AlertMail, link: str) -> tuple[str, str]:
    facts = [
        ("School", mail.school),
        ("Incident", f"#{mail.reference}"),
        ("Categories", mail.categories),
        ("Raised by", mail.initials),
    ]
    text = "\r\n".join(
        [headline, ""]
        + [f"{k}: {_line(v)}" for k, v in facts]
        + [
            "",
            "Open the alert (sign-in required):",
            link,
            "",
            "This email deliberately carries no pupil details. Do not reply to it.",
            "",
        ]
    )
    e = html.escape
    rows = "".join(f'<tr><th align="left">{k}</th><td>{e(_line(v))}</td></tr>' for k, v in facts)
    markup = (
        f"<!DOCTYPE html><html><body><p><strong>{e(headline)}</strong></p>"
        f'<table>{rows}</table><p><a href="{e(link)}">Open the alert</a> '
        "(sign-in required)</p><p>This email deliberately carries no pupil details. "
        "Do not reply to it.</p></body></html>\r\n"
    )
    return text, markup


def _part(boundary: str, subtype: str, body: str) -> bytes:
    encoded = binascii.b2a_qp(body.encode(), istext=True).replace(b"\r\n", b"\n")
    encoded = encoded.replace(b"\n", b"\r\n")
    return (
        (
            f"--{boundary}\r\nContent-Type: text/{subtype}; charset=utf-8\r\n"
            "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
        ).encode()
        + encoded
        + b"\r\n"
    )


def _line(value: str) -> str:
    """Data from the school (names) never breaks a line: CR/LF would inject headers."""
    return " ".join(value.split())


@lru_cache(maxsize=4096)
def _header(value: str) -> str:
    # Every recipient of one event shares the subject, so the cache saves most encodings.
    value = _line(value)
    if value.isascii() and len(value) <= 900:
        return value
    return Header(value, "utf-8", header_name="Subject").encode()


def _address(value: str) -> str:
    address = _line(value)
    if "," in address or "<" in address or " " in address:
        raise ValueError(f"not a single mailbox: {address!r}")
    return address
