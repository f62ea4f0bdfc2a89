"""Storing a file attached to an incident (letters, screenshots, scanned paper forms), for the
API and the pages alike.

The stored content type is sniffed from the bytes, never taken from the client. The bytes go
under FILES_DIR when it is configured (else into PostgreSQL); a row that cannot be written
(unknown incident or uploader) takes its file on disk with it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import re
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path

from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.records.sniffing import sniff
from shared.database import Connection

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/]')

_INSERT = """
WITH incident AS (
    SELECT id FROM incidents WHERE school_id = $1 AND id = $2
      AND ($11::uuid IS NULL OR (api_key_id = $11 AND (NOT restricted OR $12::boolean)))),
author AS (SELECT id FROM staff WHERE school_id = $1 AND external_id = $3 AND active)
INSERT INTO incident_files (id, school_id, incident_id, uploaded_by, filename, content_type,
                            size_bytes, sha256, data, stored_path, api_key_id)
SELECT $4, $1, incident.id, author.id, $5, $6, $7, $8, $9, $10, $11 FROM incident, author
RETURNING uploaded_at
"""


@dataclass(frozen=True, slots=True)
class Upload:
    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredFile:
    id: uuid.UUID
    filename: str
    content_type: str
    size_bytes: int
    sha256: bytes
    uploaded_at: dt.datetime


async def attach_file(
    conn: Connection,
    files_dir: str,
    school_id: uuid.UUID,
    incident_id: uuid.UUID,
    author: str,
    upload: Upload,
    api_key_id: uuid.UUID | None = None,
    may_restrict: bool = True,
) -> StoredFile | None:
    """Stores the file as `author` (the school's staff id); None when the incident or an active
    uploader of that id does not exist in the school. Raises UnsupportedMediaType (sniff).
    An API key (`api_key_id`) finds only incidents it posted, restricted ones only with
    `may_restrict`."""
    content_type, file_id = sniff(upload.data), uuid.uuid4()
    stored = await write_file(files_dir, school_id, file_id, upload.data)
    digest = hashlib.sha256(upload.data).digest()
    try:
        uploaded_at = await conn.fetchval(
            _INSERT,
            school_id,
            incident_id,
            author,
            file_id,
            upload.filename,
            content_type,
            len(upload.data),
            digest,
            None if stored else upload.data,
            stored,
            api_key_id,
            may_restrict,
            timeout=STATEMENT_TIMEOUT,
        )
    except BaseException:
        await remove_file(stored)
        raise
    if uploaded_at is None:
        await remove_file(stored)
        return None
    return StoredFile(file_id, upload.filename, content_type, len(upload.data), digest, uploaded_at)


def safe_name(name: str | None) -> str:
    """The last path segment, without quotes or slashes, and without control, format or
    bidirectional characters (a right-to-left override makes "gpj.exe" read as "exe.jpg");
    never empty."""
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    visible = "".join(c for c in base if unicodedata.category(c) not in ("Cc", "Cf"))
    cleaned = _UNSAFE_NAME.sub("_", visible).strip(" .")[:200]
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned or "upload"


async def write_file(
    files_dir: str, school_id: uuid.UUID, file_id: uuid.UUID, data: bytes
) -> str | None:
    """Write under FILES_DIR when configured (returns the path); None: keep it in PostgreSQL."""
    if not files_dir:
        return None
    path = Path(files_dir) / str(school_id) / str(file_id)

    def write() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    await asyncio.to_thread(write)
    return str(path)


async def remove_file(stored: str | None) -> None:
    if stored:
        await asyncio.to_thread(Path(stored).unlink, missing_ok=True)
