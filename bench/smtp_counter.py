"""A counting SMTP sink for bench/pipeline.py, run as its own process so the load client does
not share its interpreter (or its GIL) with it.

Accepts every message and records when (time.time(), after the whole DATA arrived) and which
Message-ID. On SIGTERM or SIGINT it writes one `<epoch seconds>\\t<Message-ID>` line per
accepted message to --out and exits.

    python bench/smtp_counter.py --port 2525 --out /tmp/accepted.tsv
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP

MESSAGE_ID = re.compile(rb"^message-id:[ \t]*(<[^>\r\n]*>)", re.IGNORECASE | re.MULTILINE)


class Counter:
    def __init__(self) -> None:
        self.accepted: list[tuple[float, str]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        content = envelope.original_content or envelope.content
        head = content.split(b"\r\n\r\n", 1)[0]
        found = MESSAGE_ID.search(head)
        self.accepted.append((time.time(), found[1].decode() if found else "-"))
        return "250 OK"


async def serve(port: int, out: Path) -> None:
    counter = Counter()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(counter, hostname="sink"), "127.0.0.1", port)
    stopped = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopped.set)
    await stopped.wait()
    server.close()
    out.write_text("".join(f"{t:.6f}\t{mid}\n" for t, mid in counter.accepted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.out))


if __name__ == "__main__":
    main()
