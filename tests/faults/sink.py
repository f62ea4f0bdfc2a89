"""An mail server (aiosmtpd, in a thread of the test process) that a fault test can take down,
make refuse with 421/451, and bring back, and that records when each Message-ID was accepted.

Every start builds a new aiosmtpd Controller on the same port: a stopped Controller has closed
its event loop and cannot be started again.
"""

from __future__ import annotations

import itertools
import re
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller

from tests.support.ports import free_port

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*<([^>\r\n]*)>", re.IGNORECASE | re.MULTILINE)
ALERT_ID = re.compile(r"alert-([0-9a-f-]{36})@")
REFUSALS = ("421 4.3.2 Service shutting down, try later", "451 4.3.0 Temporary failure")


@dataclass(frozen=True, slots=True)
class Accepted:
    at: float  # time.time() when DATA was accepted
    message_id: str
    recipient: str

    @property
    def alert_id(self) -> str | None:
        found = ALERT_ID.search(self.message_id)
        return found[1] if found else None


@dataclass
class MailServerHandler:
    accepted: list[Accepted] = field(default_factory=list)
    refusing: bool = False
    refused: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)
    _turns: Any = field(default_factory=lambda: itertools.cycle(REFUSALS))

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.lock:
            if self.refusing:
                self.refused += 1
                return str(next(self._turns))
            content = envelope.original_content or envelope.content
            found = MESSAGE_ID.search(content.split(b"\r\n\r\n", 1)[0])
            self.accepted.append(
                Accepted(
                    time.time(), found[1].decode() if found else "-", ",".join(envelope.rcpt_tos)
                )
            )
        return "250 OK"


class FaultyMailServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.handler = MailServerHandler()
        self._controller: Controller | None = None

    @property
    def accepted(self) -> list[Accepted]:
        with self.handler.lock:
            return list(self.handler.accepted)

    def start(self) -> FaultyMailServer:
        self._controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self._controller.start()
        return self

    def stop(self) -> None:
        """Down: the port refuses connections, open sessions are dropped."""
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def refuse(self, on: bool) -> None:
        """Up but answering DATA with 421 and 451 in turn (nothing is accepted)."""
        with self.handler.lock:
            self.handler.refusing = on

    def copies(self) -> Counter[str]:
        """Alert id -> how many times it was accepted."""
        return Counter(a.alert_id or a.message_id for a in self.accepted)
