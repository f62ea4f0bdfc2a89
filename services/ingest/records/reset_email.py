"""The set-password email: content-free like every Beacon email, a link and nothing else."""

from __future__ import annotations

import html
from dataclasses import dataclass

import aiosmtplib

from shared.config import Settings
from shared.mail import Email, Sender, mailbox, render

SUBJECT = "Beacon: set your password"
AFTER = "It works once. If you did not ask for it, ignore this email."


@dataclass(frozen=True, slots=True)
class ResetMessage:
    """The rendered email and its envelope: bytes alone do not say who to send them to."""

    sender: str
    to: str
    data: bytes


def build(settings: Settings, to: str, token: str, minutes: int) -> ResetMessage:
    sender = Sender(settings.smtp_from)
    link = f"{settings.base_url}/reset/{token}"
    before = f"Use this link within {minutes} minutes to set your Beacon password:"
    text = f"{before}\n\n{link}\n\n{AFTER}\n"
    e = html.escape
    markup = (
        f'<!DOCTYPE html><html><body><p>{before}</p><p><a href="{e(link)}">{e(link)}</a></p>'
        f"<p>{AFTER}</p></body></html>\n"
    )
    data = render(sender, Email(to, SUBJECT, text, markup, "set-password"))
    return ResetMessage(sender.address, mailbox(to), data)


async def send(settings: Settings, message: ResetMessage) -> None:
    await aiosmtplib.send(
        message.data,
        sender=message.sender,
        recipients=[message.to],
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
    )
