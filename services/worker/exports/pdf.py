"""HTML to PDF with WeasyPrint: tagged (PDF/UA-1, so a screen reader can read it), and with a
URL fetcher that allows only `data:` URLs, so nothing a record holds can make the worker fetch
a file or a web address while rendering.

Rendering is CPU-bound and slow (seconds): it runs in a thread, one at a time per process (the
lock), so the worker's event loop keeps resolving alerts meanwhile.
"""

from __future__ import annotations

import functools
import threading
from pathlib import Path
from typing import Any

import jinja2
from weasyprint import HTML, URLFetcher

PDF_VARIANT = "pdf/ua-1"
TEMPLATES = Path(__file__).parent / "templates"
_RENDER_LOCK = threading.Lock()  # WeasyPrint's memory grows with pages: one render at a time


@functools.cache
def templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["css_string"] = css_string
    return env


def html(template: str, context: dict[str, Any]) -> str:
    return templates().get_template(template).render(context)


def css_string(value: object) -> str:
    """A CSS string literal's content: every character that could end it or break the rule
    is escaped, so a school's name cannot inject CSS into the page margins."""
    out = []
    for c in str(value):
        if c.isalnum() or c in " .,:;()'&-/":
            out.append(c)
        else:
            out.append(f"\\{ord(c):06x}")
    return "".join(out)


def layout(markup: str) -> Any:
    """The laid-out document (weasyprint.Document): pages exist, nothing written yet."""
    with _RENDER_LOCK:
        fetcher = URLFetcher(allowed_protocols={"data"})
        return HTML(string=markup, url_fetcher=fetcher).render(pdf_variant=PDF_VARIANT)


def write(document: Any) -> bytes:
    with _RENDER_LOCK:
        data: bytes = document.write_pdf(pdf_variant=PDF_VARIANT)
        return data
