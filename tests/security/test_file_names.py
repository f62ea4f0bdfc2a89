"""Attack: a file name that lies about itself. A right-to-left override turns
"invoice\u202egpj.exe" into what a reader sees as "invoiceexe.jpg"; other invisible format
characters hide parts of a name. Stored file names keep no control, format or bidirectional
characters (Unicode category Cc or Cf), nor quotes or path separators."""

from __future__ import annotations

import unicodedata

import pytest

from services.ingest.records.files import safe_name


@pytest.mark.parametrize(
    "sent",
    [
        "invoice\u202egpj.exe",  # RIGHT-TO-LEFT OVERRIDE
        "report\u2066.pdf\u2069.exe",  # LEFT-TO-RIGHT ISOLATE ... POP DIRECTIONAL ISOLATE
        "scan\u200b\u200d\ufeff.png",  # zero-width space, joiner, BOM
        "letter\u061c\u200f.txt",  # ARABIC LETTER MARK, RIGHT-TO-LEFT MARK
        "a\x00b\x1f\x7f\x85c.txt",  # C0, DEL and C1 controls
    ],
)
def test_no_control_format_or_bidi_character_survives(sent: str) -> None:
    stored = safe_name(sent)
    assert not [c for c in stored if unicodedata.category(c) in ("Cc", "Cf")], repr(stored)


def test_an_ordinary_name_is_kept() -> None:
    assert safe_name("Letter to parents – 3 Dec.pdf") == "Letter to parents – 3 Dec.pdf"
    assert safe_name("C:\\Users\\x\\scan 1.png") == "scan 1.png"
    assert safe_name("\u202e") == "upload"
