"""The password-reset email: content-free like every Beacon email, a link and nothing else."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid, parseaddr

import aiosmtplib

from shared.config import Settings

SUBJECT = "Beacon: set your password"


def build(settings: Settings, to: str, token: str, minutes: int) -> EmailMessage:
    link = f"{settings.base_url}/reset/{token}"
    msg = EmailMessage()
    msg["From"] = settings.smtp_from
    msg["To"] = to
    msg["Subject"] = SUBJECT
    msg["Message-ID"] = make_msgid(
        domain=parseaddr(settings.smtp_from)[1].rpartition("@")[2] or None
    )
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(
        f"Use this link within {minutes} minutes to set your Beacon password:\n\n{link}\n\n"
        "It works once. If you did not ask for it, ignore this email.\n"
    )
    return msg


async def send(settings: Settings, message: EmailMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=settings.smtp_host,
        port=settings.smtp_port,
        username=settings.smtp_username or None,
        password=settings.smtp_password or None,
        start_tls=settings.smtp_starttls,
        timeout=settings.smtp_timeout,
    )
