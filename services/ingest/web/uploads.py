"""Reading a posted page form: multipart, streamed, every part bounded; files kept in memory
up to their limit (an oversize file becomes the form's "files" error, not a lost form)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import BodyPartReader, web
from multidict import MultiDict

from services.ingest.records.files import Upload, safe_name
from shared import fields
from shared.problems import MalformedRequest, TooLarge

MAX_FILES = 5
MAX_FIELD_BYTES = 100_000  # one text field (the write-up is at most 20,000 characters)
MAX_PARTS = 400


@dataclass(slots=True)
class Posted:
    form: MultiDict[str] = field(default_factory=MultiDict)
    uploads: list[Upload] = field(default_factory=list)
    file_error: str = ""


async def read_form(request: web.Request, max_file_bytes: int) -> Posted:
    if request.content_type != "multipart/form-data":
        raise MalformedRequest("Send the form from its page.")
    limit = MAX_FILES * max_file_bytes + MAX_PARTS * 1024 + 4 * MAX_FIELD_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise TooLarge(f"Attach at most {MAX_FILES} files of {size(max_file_bytes)} each.")
    posted, parts = Posted(), 0
    async for part in await request.multipart():
        parts += 1
        if not isinstance(part, BodyPartReader) or parts > MAX_PARTS or not part.name:
            raise MalformedRequest("Send the form from its page.")
        if part.filename is None:
            raw = await _read_text(part)
            posted.form.add(part.name, raw if fields.storable(raw) else "")
        else:
            await _read_file(part, posted, max_file_bytes)
    return posted


async def _read_text(part: BodyPartReader) -> str:
    data = bytearray()
    while chunk := await part.read_chunk(64 * 1024):
        data += chunk
        if len(data) > MAX_FIELD_BYTES:
            raise TooLarge("A field of the form is too long.")
    return data.decode("utf-8", "replace").replace("\r\n", "\n")


async def _read_file(part: BodyPartReader, posted: Posted, max_bytes: int) -> None:
    data, over = bytearray(), False
    while chunk := await part.read_chunk(64 * 1024):
        if over or len(data) + len(chunk) > max_bytes:
            over = True  # keep reading (and dropping) so the rest of the form still arrives
            continue
        data += chunk
    if over:
        posted.file_error = f"Each file must be smaller than {size(max_bytes)}"
    elif data and len(posted.uploads) >= MAX_FILES:
        posted.file_error = f"Attach up to {MAX_FILES} files"
    elif data:
        posted.uploads.append(Upload(safe_name(part.filename), bytes(data)))


def size(n: int) -> str:
    return f"{n // (1024 * 1024)} MB" if n >= 1024 * 1024 else f"{n // 1024} KB"
