"""Report charts as SVG, drawn by matplotlib with one fixed style, so the same data draws the
same bytes: the Agg-free SVG canvas, a fixed `svg.hashsalt` (the ids of clip paths), no date in
the metadata, text kept as text in one font. Values below 5 are drawn as nothing and labelled
"<5", like the table beside the chart, which always carries the numbers a reader may see.

matplotlib's rcParams are process-wide, so charts are drawn under a lock (they are small).
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Sequence
from typing import Any

import matplotlib

matplotlib.use("Agg")  # never a GUI backend in the worker

from matplotlib.figure import Figure  # noqa: E402 (after choosing the backend)
from matplotlib.ticker import MaxNLocator  # noqa: E402

from services.worker.exports.suppression import SMALL  # noqa: E402

STYLE: dict[Any, Any] = {
    "svg.hashsalt": "beacon-reports",
    "svg.fonttype": "none",
    "font.family": "DejaVu Sans",
    "font.size": 8.0,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.edgecolor": "#505a5f",
    "axes.labelcolor": "#0b0c0c",
    "xtick.color": "#0b0c0c",
    "ytick.color": "#0b0c0c",
    "figure.dpi": 100.0,
}
BAR = "#1d70b8"
_LOCK = threading.Lock()


def bars(
    labels: Sequence[str], values: Sequence[int], title: str, horizontal: bool = True
) -> bytes:
    """A bar chart's SVG; `values` are true counts, those below 5 drawn as nothing."""
    drawn = [v if v >= SMALL else 0 for v in values]
    marks = [str(v) if v >= SMALL else "<5" for v in values]
    with _LOCK, matplotlib.rc_context(STYLE):
        height = max(1.6, 0.28 * len(labels) + 0.8) if horizontal else 2.6
        fig = Figure(figsize=(4.6, height))
        ax = fig.add_subplot()
        positions = list(range(len(labels)))
        top = max([*drawn, SMALL])  # counts start at 0; nothing drawn still has a scale
        if horizontal:
            found = ax.barh(positions, drawn, color=BAR)
            ax.set_yticks(positions, labels=list(labels))
            ax.invert_yaxis()
            ax.set_xlim(0, top * 1.15)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        else:
            found = ax.bar(positions, drawn, color=BAR)
            ax.set_xticks(positions, labels=list(labels), rotation=45, ha="right")
            ax.set_ylim(0, top * 1.15)
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.bar_label(found, labels=marks, padding=2, fontsize=7)
        ax.set_title(title, loc="left", fontsize=9)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="svg", metadata={"Date": None})
    return out.getvalue()


def data_url(svg: bytes) -> str:
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
