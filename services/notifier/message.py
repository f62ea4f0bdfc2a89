"""Composing an alert email. Content-free by construction: the only inputs are an `AlertMail`
(author initials, category names, school name, incident reference, alert id, event kind), so
nothing that could carry a pupil's name, the write-up, an action's text or a file reaches here.

This module writes only what the alert says (headline, facts, link); `shared.mail` renders it
with every other Beacon email, fast enough for the notifier's ~1,000 emails/s.
"""

from __future__ import annotations

import html
import uuid
from dataclasses import dataclass

from shared.mail import Email, Sender, one_line, render

HEADLINES = {
    "incident": "New incident #{ref} at {school}",
    "action": "New action on incident #{ref} at {school}",
    "escalation": "Unread safeguarding alert escalated: incident #{ref} at {school}",
}
FOOTER = "This email deliberately carries no pupil details. Do not reply to it."


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
        self.sender = Sender(smtp_from)
        self.envelope_from = self.sender.address
        self.base_url = base_url.rstrip("/")

    def message_id(self, alert_id: uuid.UUID) -> str:
        return self.sender.message_id(_key(alert_id), "alert")

    def link(self, alert_id: uuid.UUID) -> str:
        return f"{self.base_url}/alerts/{alert_id}"

    def compose(self, mail: AlertMail) -> bytes:
        headline = HEADLINES[mail.kind].format(ref=mail.reference, school=one_line(mail.school))
        subject = f"[Beacon] {headline}: {one_line(mail.categories)} ({one_line(mail.initials)})"
        alert_id = str(mail.alert_id)
        text, markup = _bodies(headline, mail, f"{self.base_url}/alerts/{alert_id}")
        return render(self.sender, Email(mail.to, subject, text, markup, "alert", _key(alert_id)))


def _key(alert_id: uuid.UUID | str) -> str:
    # Deterministic Message-ID: a repeat after a crash between 250 and commit collapses.
    return f"alert-{alert_id}"


def _bodies(headline: str, mail: AlertMail, link: str) -> tuple[str, str]:
    facts = [
        ("School", mail.school),
        ("Incident", f"#{mail.reference}"),
        ("Categories", mail.categories),
        ("Raised by", mail.initials),
    ]
    text = "\n".join(
        [headline, ""]
        + [f"{k}: {one_line(v)}" for k, v in facts]
        + ["", "Open the alert (sign-in required):", link, "", FOOTER, ""]
    )
    e = html.escape
    rows = "".join(f'<tr><th align="left">{k}</th><td>{e(one_line(v))}</td></tr>' for k, v in facts)
    markup = (
        f"<!DOCTYPE html><html><body><p><strong>{e(headline)}</strong></p>"
        f'<table>{rows}</table><p><a href="{e(link)}">Open the alert</a> '
        f"(sign-in required)</p><p>{FOOTER}</p></body></html>\n"
    )
    return text, markup
