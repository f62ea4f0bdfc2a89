"""The JSON shapes of incidents, actions and files, as the OpenAPI document describes them."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg

from services.ingest.records.inputs import ActionInput, IncidentInput


def incident_path(incident_id: uuid.UUID) -> str:
    return f"/v1/incidents/{incident_id}"


def file_path(incident_id: uuid.UUID, file_id: uuid.UUID) -> str:
    return f"{incident_path(incident_id)}/files/{file_id}"


def stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def new_incident(row: asyncpg.Record, data: IncidentInput) -> dict[str, Any]:
    """The 201 body, from the request and what the insert returned: no second query."""
    return {
        "id": str(row["incident_id"]),
        "reference": row["reference"],
        "pupil": data.pupil,
        "author": data.author,
        "occurred_at": stamp(data.occurred_at),
        "recorded_at": stamp(row["recorded_at"]),
        "description": data.description,
        "restricted": row["restricted"],
        "categories": sorted(data.categories),
        "linked_pupils": sorted(data.linked_pupils),
        "agencies": data.agencies,
        "body_map": [{"view": m.view, "region": m.region, "note": m.note} for m in data.body_map],
        "alert_staff": sorted(data.alert_staff),
        "actions": [],
        "files": [],
    }


def stored_incident(
    row: asyncpg.Record, actions: list[asyncpg.Record], files: list[asyncpg.Record]
) -> dict[str, Any]:
    body_map = row["body_map"]
    return {
        "id": str(row["id"]),
        "reference": row["reference"],
        "pupil": row["pupil"],
        "author": row["author"],
        "occurred_at": stamp(row["occurred_at"]),
        "recorded_at": stamp(row["recorded_at"]),
        "description": row["description"],
        "restricted": row["restricted"],
        "categories": list(row["categories"]),
        "linked_pupils": list(row["linked_pupils"]),
        "agencies": list(row["agencies"]),
        "body_map": json.loads(body_map) if isinstance(body_map, str) else body_map,
        "alert_staff": list(row["alert_staff"]),
        "actions": [stored_action(a, row["id"]) for a in actions],
        "files": [file_metadata(f, row["id"]) for f in files],
    }


def new_action(row: asyncpg.Record, incident_id: uuid.UUID, data: ActionInput) -> dict[str, Any]:
    return {
        "id": str(row["action_id"]),
        "incident_id": str(incident_id),
        "author": data.author,
        "description": data.description,
        "recorded_at": stamp(row["recorded_at"]),
        "alert_staff": sorted(data.alert_staff),
    }


def stored_action(row: asyncpg.Record, incident_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "incident_id": str(incident_id),
        "author": row["author"],
        "description": row["description"],
        "recorded_at": stamp(row["recorded_at"]),
        "alert_staff": list(row["alert_staff"]),
    }


def file_metadata(row: asyncpg.Record, incident_id: uuid.UUID) -> dict[str, Any]:
    return {
        "id": str(row["id"]),
        "filename": row["filename"],
        "content_type": row["content_type"],
        "size_bytes": row["size_bytes"],
        "sha256": bytes(row["sha256"]).hex(),
        "uploaded_by": row["uploaded_by"],
        "uploaded_at": stamp(row["uploaded_at"]),
        "url": file_path(incident_id, row["id"]),
    }
