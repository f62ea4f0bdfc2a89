"""Files attached to an incident (letters, screenshots, scanned paper forms).

Uploads are multipart with an `author` field and a `file` part, bounded by max_file_bytes while
streaming. The stored content type is sniffed from the bytes; downloads are always attachments
with nosniff, so nothing uploaded is ever rendered by a browser in Beacon's origin.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import uuid
from pathlib import Path
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from services.ingest.api.context import caller, database, path_id, session_author, state
from services.ingest.api.incidents import audit_view
from services.ingest.api.representation import file_path, stamp
from services.ingest.records.incidents import STATEMENT_TIMEOUT
from services.ingest.records.sniffing import sniff
from shared import fields
from shared.auth.caller import Caller, visible_or_404
from shared.database import Connection
from shared.problems import InvalidInput, NotFound, TooLarge, UnsupportedMediaType

_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f"\\/]')

_INSERT = """
WITH incident AS (SELECT id FROM incidents WHERE school_id = $1 AND id = $2),
author AS (SELECT id FROM staff WHERE school_id = $1 AND external_id = $3 AND active)
INSERT INTO incident_files (id, school_id, incident_id, uploaded_by, filename, content_type,
                            size_bytes, sha256, data, stored_path)
SELECT $4, $1, incident.id, author.id, $5, $6, $7, $8, $9, $10 FROM incident, author
RETURNING uploaded_at
"""


async def post_file(request: web.Request) -> web.Response:
    settings = state(request).settings
    who = await caller(request)
    incident_id = path_id(request, "incident_id")
    named, filename, data = await _read_upload(request, settings.max_file_bytes)
    author = await _author(request, who, incident_id, named)
    content_type, file_id = sniff(data), uuid.uuid4()
    stored = await _store(settings.files_dir, who.school_id, file_id, data)
    digest = hashlib.sha256(data).digest()
    async with database(request) as conn:
        uploaded_at = await conn.fetchval(
            _INSERT,
            who.school_id,
            incident_id,
            author,
            file_id,
            filename,
            content_type,
            len(data),
            digest,
            None if stored else data,
            stored,
            timeout=STATEMENT_TIMEOUT,
        )
        if uploaded_at is None:
            if stored:
                await asyncio.to_thread(Path(stored).unlink, missing_ok=True)
            await _refuse(conn, who.school_id, incident_id)
    return web.json_response(
        {
            "id": str(file_id),
            "filename": filename,
            "content_type": content_type,
            "size_bytes": len(data),
            "sha256": digest.hex(),
            "uploaded_by": author,
            "uploaded_at": stamp(uploaded_at),
            "url": file_path(incident_id, file_id),
        },
        status=201,
        headers={"Location": file_path(incident_id, file_id)},
    )


async def _author(
    request: web.Request, who: Caller, incident_id: uuid.UUID, named: str | None
) -> str:
    """An API key names the uploader; a session uploads as itself (and must see the incident)."""
    if who.session is not None:
        body = await session_author(request, who, {"author": named}, incident_id)
        return str(body["author"])  # type: ignore[index]
    if named is None:
        raise InvalidInput("author is required.", field="author")
    return named


async def _read_upload(request: web.Request, max_bytes: int) -> tuple[str | None, str, bytes]:
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Send the file as multipart/form-data.", field="Content-Type")
    if request.content_length is not None and request.content_length > max_bytes + 64 * 1024:
        raise TooLarge(f"Files may be at most {max_bytes} bytes.", field="file")
    author: str | None = None
    upload: tuple[str, bytes] | None = None
    async for part in await request.multipart():
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("Nested multipart bodies are not accepted.", field="file")
        if part.name == "author":
            raw = await _read_part(part, 256, "author")
            author = fields.identifier(raw.decode("utf-8", "replace"), "author")
        elif part.name == "file" and upload is None:
            upload = (_safe_name(part.filename), await _read_part(part, max_bytes, "file"))
        else:
            raise InvalidInput(f"Unexpected form field {part.name!r}.", field=part.name or "form")
    if upload is None:
        raise InvalidInput("file is required.", field="file")
    return author, *upload


async def _read_part(part: BodyPartReader, max_bytes: int, name: str) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while chunk := await part.read_chunk(64 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise TooLarge(f"{name} may be at most {max_bytes} bytes.", field=name)
        chunks.append(chunk)
    return b"".join(chunks)


def _safe_name(name: str | None) -> str:
    base = (name or "").replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE_NAME.sub("_", base).strip(" .")[:200]
    try:
        cleaned.encode("utf-8")
    except UnicodeEncodeError:
        cleaned = cleaned.encode("utf-8", "replace").decode("utf-8")
    return cleaned or "upload"


async def _store(
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


async def _refuse(conn: Connection, school_id: uuid.UUID, incident_id: uuid.UUID) -> None:
    exists = await conn.fetchval(
        "SELECT EXISTS (SELECT FROM incidents WHERE school_id = $1 AND id = $2)",
        school_id,
        incident_id,
        timeout=STATEMENT_TIMEOUT,
    )
    if not exists:
        raise NotFound("No such incident in this school.")
    raise InvalidInput(
        "The author is an unknown or inactive staff member of this school.", field="author"
    )


async def get_file(request: web.Request) -> web.Response:
    """Like the incident itself: need-to-know first, and the view audited in its transaction."""
    who = await caller(request)
    incident_id, file_id = path_id(request, "incident_id"), path_id(request, "file_id")
    async with database(request) as conn, conn.transaction():
        await visible_or_404(conn, who, incident_id)
        row = await conn.fetchrow(
            """SELECT filename, content_type, data, stored_path FROM incident_files
               WHERE school_id = $1 AND incident_id = $2 AND id = $3""",
            who.school_id,
            incident_id,
            file_id,
            timeout=STATEMENT_TIMEOUT,
        )
        if row is None:
            raise NotFound("No such file on this incident.")
        await audit_view(conn, request, who, incident_id, file=str(file_id))
    data = row["data"]
    if data is None:
        data = await asyncio.to_thread(Path(row["stored_path"]).read_bytes)
    return web.Response(
        body=data,
        headers={
            "Content-Type": row["content_type"],
            "Content-Disposition": _attachment(row["filename"]),
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
            "Cache-Control": "private, no-store",
        },
    )


def _attachment(filename: str) -> str:
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
