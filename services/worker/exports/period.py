"""A report's period: the days asked for (inclusive, UK time) as a half-open UTC range, and
its months in order."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

import asyncpg

from services.worker.exports import formatting as fmt


@dataclass(frozen=True, slots=True)
class Period:
    since: dt.date
    until: dt.date

    @classmethod
    def of(cls, export: asyncpg.Record) -> Period:
        params = json.loads(export["params"])
        return cls(dt.date.fromisoformat(params["from"]), dt.date.fromisoformat(params["to"]))

    @property
    def start(self) -> dt.datetime:
        return fmt.start_of(self.since)

    @property
    def end(self) -> dt.datetime:
        return fmt.start_of(self.until, days=1)

    @property
    def label(self) -> str:
        return fmt.date_range(self.since, self.until)

    def months(self) -> list[str]:
        """'2026-09', '2026-10', ... every month the period touches."""
        out, year, month = [], self.since.year, self.since.month
        while (year, month) <= (self.until.year, self.until.month):
            out.append(f"{year:04d}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return out


def month_label(key: str) -> str:
    return dt.date.fromisoformat(key + "-01").strftime("%b %Y")
