"""The worker's SAR reminder pass: the school's SAR handlers are emailed 7 days before a subject
access request is due and on the day, once each (content-free, as every Beacon email: the due
date and a link, never the pupil or the requester).

A reminder is claimed before it is sent (a guarded UPDATE of `reminded_week_at` or
`reminded_due_at`), so two workers never both send it; a mail server that refuses hands the
claim back for the next pass. A request registered late gets what is still useful: on or after
its due date only the due-date reminder. A paused request is reminded of nothing until the
clock runs again; a new due date (extended, resumed) asks for its reminders afresh. With no
handler named, the school's DSLs and deputy DSLs are reminded instead.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from dataclasses import dataclass

import aiosmtplib
import asyncpg
import structlog

from services.worker.exports import formatting as fmt
from shared.config import Settings
from shared.mail import Email, Sender, mailbox, render

log = structlog.get_logger(__name__)

BATCH = 50
WEEK_BEFORE = 7
SUBJECT = "Beacon: a subject access request is due"

# Both columns are set together when the due date has come: the week's reminder is then moot.
_CLAIM = """
WITH due AS (
  SELECT id FROM sars
  WHERE state = 'open' AND (
        (reminded_week_at IS NULL AND due_on - $2::int <= $1::date)
     OR (reminded_due_at IS NULL AND due_on <= $1::date))
  ORDER BY due_on LIMIT $3 FOR UPDATE SKIP LOCKED)
UPDATE sars s SET reminded_week_at = coalesce(s.reminded_week_at, now()),
                  reminded_due_at = CASE WHEN s.due_on <= $1::date THEN now()
                                         ELSE s.reminded_due_at END
FROM due WHERE s.id = due.id
RETURNING s.id, s.school_id, s.due_on, s.due_on <= $1::date AS on_the_day"""

_UNCLAIM_WEEK = "UPDATE sars SET reminded_week_at = NULL WHERE id = $1 AND due_on = $2"
_UNCLAIM_DUE = "UPDATE sars SET reminded_due_at = NULL WHERE id = $1 AND due_on = $2"

_RECIPIENTS = """
SELECT s.id, s.email FROM sar_handlers h JOIN staff s ON s.id = h.staff_id AND s.active
WHERE h.school_id = $1
UNION
SELECT s.id, s.email FROM staff s
WHERE s.school_id = $1 AND s.active AND s.roles && ARRAY['dsl', 'deputy_dsl']
  AND NOT EXISTS (SELECT FROM sar_handlers h JOIN staff hs ON hs.id = h.staff_id AND hs.active
                  WHERE h.school_id = $1)
ORDER BY 1"""


@dataclass(frozen=True, slots=True)
class Reminder:
    sar_id: uuid.UUID
    school_id: uuid.UUID
    due_on: dt.date
    on_the_day: bool


async def reminder_pass(
    settings: Settings, pool: asyncpg.Pool, today: dt.date | None = None
) -> int:
    """Send every reminder now due; returns how many emails went."""
    on = today or dt.datetime.now(fmt.LONDON).date()
    async with pool.acquire() as conn:
        claimed = [Reminder(*r) for r in await conn.fetch(_CLAIM, on, WEEK_BEFORE, BATCH)]
    sent = 0
    for reminder in claimed:
        sent += await _send_all(settings, pool, reminder)
    if sent:
        log.info("sar_reminders", reminders=len(claimed), emails=sent)
    return sent


async def _send_all(settings: Settings, pool: asyncpg.Pool, reminder: Reminder) -> int:
    async with pool.acquire() as conn:
        recipients = await conn.fetch(_RECIPIENTS, reminder.school_id)
    sent = 0
    for r in recipients:
        try:
            await send(settings, r["email"], r["id"], reminder)
            sent += 1
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as e:
            log.warning("sar_reminder_failed", sar_id=str(reminder.sar_id), error=repr(e))
            async with pool.acquire() as conn:
                undo = _UNCLAIM_DUE if reminder.on_the_day else _UNCLAIM_WEEK
                await conn.execute(undo, reminder.sar_id, reminder.due_on)
            break
    return sent


def build(
    settings: Settings, to: str, staff_id: uuid.UUID, reminder: Reminder
) -> tuple[str, str, bytes]:
    """(envelope sender, recipient, message bytes)."""
    sender = Sender(settings.smtp_from)
    link = f"{settings.base_url}/sars/{reminder.sar_id}"
    due = fmt.day(reminder.due_on)
    line = f"A subject access request is due on {due}."
    after = "Sign in and elevate access to see it."
    text = f"{line}\n\n{link}\n\n{after}\n"
    e = html.escape
    markup = (
        f'<!DOCTYPE html><html><body><p>{e(line)}</p><p><a href="{e(link)}">{e(link)}</a></p>'
        f"<p>{after}</p></body></html>\n"
    )
    which = "due" if reminder.on_the_day else "week"
    message_id = f"sar-{reminder.sar_id}-{which}-{reminder.due_on.isoformat()}-{staff_id}"
    email = Email(to, SUBJECT, text, markup, "sar-reminder", message_id=message_id)
    return sender.address, mailbox(to), render(sender, email)


async def send(settings: Settings, to: str, staff_id: uuid.UUID, reminder: Reminder) -> None:
    sender, recipient, data = build(settings, to, staff_id, reminder)
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
