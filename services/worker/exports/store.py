"""Where an export's file lives until it expires: under FILES_DIR when it is configured (as
incident files are), else in the row itself."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

EXPORTS_FOLDER = "exports"


async def write(
    files_dir: str, school_id: uuid.UUID, export_id: uuid.UUID, data: bytes
) -> str | None:
    """The path written, or None: keep the bytes in PostgreSQL."""
    if not files_dir:
        return None
    path = Path(files_dir) / str(school_id) / EXPORTS_FOLDER / str(export_id)

    def write_file() -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)

    await asyncio.to_thread(write_file)
    return str(path)


async def remove(stored_path: str | None) -> None:
    if stored_path:
        await asyncio.to_thread(Path(stored_path).unlink, missing_ok=True)
