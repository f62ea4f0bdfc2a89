"""The suite's report: one row per fault test (and the overload's own row), printed as tables
at the end of the run and written as JSON to BEACON_FAULT_REPORT (default /tmp/beacon-faults),
beside the previous runs, with the last run's key figures alongside for comparison."""

from __future__ import annotations

import io
import json
import os
import time
from contextlib import redirect_stdout
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.report import git_commit, print_table
from tests.faults.scale import Scale

FAULT_COLUMNS = [
    "test",
    "seconds",
    "requests",
    "acked",
    "stored",
    "shed",
    "no_answer",
    "in_doubt",
    "timed_out",
    "5xx",
    "max_ms",
    "alerts",
    "delivered",
    "missing",
    "failed",
    "dups",
    "leased",
    "drain_s",
]
OVERLOAD_COLUMNS = [
    "offered/s",
    "sent",
    "accepted",
    "shed",
    "timed_out",
    "p50_ms",
    "p99_ms",
    "max_ms",
    "client_lag_max_ms",
    "server_over_1s",
    "rss_ingest_mb",
    "rss_worker_mb",
    "rss_notifier_mb",
    "emails/s",
    "backlog_peak",
    "drain_s",
    "urgent_p50_s",
    "urgent_p99_s",
    "routine_p50_s",
    "routine_p99_s",
    "urgent_resolved_p99_s",
    "routine_resolved_p99_s",
    "probe_before_ms",
    "probe_after_ms",
]
COMPARED = ["drain_s", "dups", "max_ms", "seconds"]


def report_dir() -> Path:
    return Path(os.environ.get("BEACON_FAULT_REPORT", "/tmp/beacon-faults"))


@dataclass
class FaultReport:
    scale: Scale
    rows: list[dict[str, Any]] = field(default_factory=list)
    overload: list[dict[str, Any]] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    written: Path | None = None
    previous: dict[str, Any] | None = None  # test -> its row in an earlier report

    def add(self, test: str, row: dict[str, Any], **details: Any) -> None:
        self.rows.append({"test": test, **row})
        self.details[test] = details

    def write(self) -> Path | None:
        if not self.rows and not self.overload:
            return None
        folder = report_dir()
        folder.mkdir(parents=True, exist_ok=True)
        self.previous = self._last_rows(folder)
        self.written = folder / f"faults-{time.strftime('%Y%m%d-%H%M%S')}.json"
        self.written.write_text(
            json.dumps(
                {
                    "scale": asdict(self.scale),
                    "commit": git_commit(),
                    "cpus": os.cpu_count(),
                    "loadavg": os.getloadavg(),
                    "rows": self.rows,
                    "overload": self.overload,
                    "details": self.details,
                },
                indent=2,
                default=str,
            )
        )
        return self.written

    def lines(self) -> list[str]:
        out = io.StringIO()
        with redirect_stdout(out):
            print(f"Beacon fault suite, scale {self.scale.name}")
            if self.rows:
                print_table(_filled(self.rows, FAULT_COLUMNS), FAULT_COLUMNS)
            if self.overload:
                print("\nOverload")
                print_table(_filled(self.overload, OVERLOAD_COLUMNS), OVERLOAD_COLUMNS)
            self._compare()
            if self.written:
                print(f"\nreport: {self.written}")
        return out.getvalue().splitlines()

    def _last_rows(self, folder: Path) -> dict[str, Any]:
        """Each test's row from the most recent earlier report at the same scale."""
        found: dict[str, Any] = {}
        for path in sorted(folder.glob("faults-*.json"), reverse=True):
            earlier = json.loads(path.read_text())
            if earlier.get("scale", {}).get("name") != self.scale.name:
                continue
            for row in earlier.get("rows", []):
                found.setdefault(row["test"], {**row, "report": path.name})
        return found

    def _compare(self) -> None:
        rows = []
        for row in self.rows:
            last = (self.previous or {}).get(row["test"])
            if last and any(c in row for c in COMPARED):
                rows.append(
                    {
                        "test": row["test"],
                        "last report": last["report"],
                        **{
                            c: f"{row.get(c, '-')} (was {last.get(c, '-')})"
                            for c in COMPARED
                            if c in row
                        },
                    }
                )
        if rows:
            print(f"\nAgainst each test's last run at scale {self.scale.name}")
            print_table(
                _filled(rows, ["test", *COMPARED, "last report"]),
                ["test", *COMPARED, "last report"],
            )


def _filled(rows: list[dict[str, Any]], columns: list[str]) -> list[dict[str, Any]]:
    return [{c: "-" if row.get(c) is None else row[c] for c in columns} for row in rows]
