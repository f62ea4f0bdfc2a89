""" "Your export is ready": content-free like every Beacon email (shared.mail builds it). A link
to the export's page and nothing else: no pupil name, no kind of record, no attachment."""

from __future__ import annotations

import html
import uuid

import aiosmtplib

from shared.config import Settings
from shared.mail import Email, Sender, mailbox, render

SUBJECT = "Beacon: your export is ready"
AFTER = "Sign in and elevate access to download it. It is deleted after {days} days."


def build(settings: Settings, to: str, export_id: uuid.UUID) -> tuple[str, str, bytes]:
    """(envelope sender, recipient, message bytes)."""
    sender = Sender(settings.smtp_from)
    link = f"{settings.base_url}/exports/{export_id}"
    before = "The export you asked for in Beacon is ready:"
    after = AFTER.format(days=settings.export_retention_days)
    text = f"{before}\n\n{link}\n\n{after}\n"
    e = html.escape
    markup = (
        f'<!DOCTYPE html><html><body><p>{before}</p><p><a href="{e(link)}">{e(link)}</a></p>'
        f"<p>{after}</p></body></html>\n"
    )
    email = Email(to, SUBJECT, text, markup, "export-ready", message_id=f"export-{export_id}")
    return sender.address, mailbox(to), render(sender, email)


async def send(settings: Settings, to: str, export_id: uuid.UUID) -> None:
    sender, recipient, data = build(settings, to, export_id)
    await aiosmtplib.send(
        data,
        sender=sender,
        recipients=[recipient],
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
    )
