"""Printing and saving benchmark figures: an aligned table on stdout, JSON in bench/results/."""

from __future__ import annotations

import json
import math
import subprocess
import time
from pathlib import Path
from typing import Any


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:.3f}" if abs(value) < 1 else f"{value:.1f}"
    return str(value)


def print_table(rows: list[dict[str, Any]], columns: list[str], header: bool = True) -> None:
    widths = [max(8, len(c)) for c in columns]
    if header:
        print(" ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True)))
    for row in rows:
        print(
            " ".join(_cell(row.get(c)).rjust(w) for c, w in zip(columns, widths, strict=True)),
            flush=True,
        )


def git_commit() -> str:
    result = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).parent,
        check=False,
    )
    return result.stdout.strip() or "unknown"


def write_json(folder: Path, name: str, data: dict[str, Any]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(data, indent=2, default=str))
    return path
