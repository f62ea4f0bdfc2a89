"""What an uploaded file really is, from its first bytes, never from what the client claims."""

from __future__ import annotations

import re

from shared.problems import UnsupportedMediaType

OCTET_STREAM = "application/octet-stream"
TEXT = "text/plain; charset=utf-8"

_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)

# Windows PE, ELF, Mach-O (both endians, fat), scripts with a shebang: never stored.
_EXECUTABLES = (
    b"MZ",
    b"\x7fELF",
    b"\xfe\xed\xfa\xce",
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",
    b"#!",
)

# Control bytes other than tab, newline, form feed and carriage return: not text.
_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def sniff(data: bytes) -> str:
    if data.startswith(_EXECUTABLES):
        raise UnsupportedMediaType("Executable files are not accepted.", field="file")
    for magic, content_type in _SIGNATURES:
        if data.startswith(magic):
            return content_type
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if _is_text(data):
        return TEXT
    return OCTET_STREAM


def _is_text(data: bytes) -> bool:
    if not data or _CONTROL.search(data):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
