"""A real SMTP server (aiosmtpd) that keeps every message it accepts, for email tests.

`reply` lets a test make the relay refuse a message (e.g. "451 try later", "550 no such user");
`mail_reply` and `rcpt_reply` refuse the sender or the recipient instead."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port


@dataclass
class Received:
    envelope_from: str
    recipients: list[str]
    data: bytes

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data)


@dataclass
class SinkHandler:
    messages: list[Received] = field(default_factory=list)
    reply: str | None = None  # None accepts; otherwise the SMTP reply to DATA
    mail_reply: str | None = None  # likewise, to MAIL FROM
    rcpt_reply: str | None = None  # likewise, to RCPT TO
    mail_options: list[list[str]] = field(default_factory=list)  # each MAIL's parameters
    sessions: set[int] = field(default_factory=set)  # one per connection that sent MAIL
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        with self.lock:
            self.sessions.add(id(session))
            self.mail_options.append(list(options))
        if self.mail_reply is not None:
            return self.mail_reply
        envelope.mail_from, envelope.mail_options = address, list(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.reply is not None:
            return self.reply
        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from,
                    list(envelope.rcpt_tos),
                    bytes(envelope.original_content or envelope.content),
                )
            )
        return "250 OK"


class SmtpSink:
    def __init__(self) -> None:
        self.handler = SinkHandler()
        self.port = free_port()
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Received]:
        with self.handler.lock:
            return list(self.handler.messages)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
