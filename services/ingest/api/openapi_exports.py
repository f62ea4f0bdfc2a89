"""The exports' part of /v1/openapi.json (services.ingest.api.exports)."""

from __future__ import annotations

from typing import Any

Problems = Any  # openapi._problems: (*statuses) -> responses

_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_DATE = {"type": "string", "format": "date"}
_FORMAT = {"enum": ["pdf", "csv"], "default": "pdf"}


def _param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


EXPORT: dict[str, Any] = {
    "type": "object",
    "required": ["id", "kind", "format", "state", "progress", "created_at"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "kind": {"enum": ["chronology", "governors", "ofsted", "sar"]},
        "format": {"enum": ["pdf", "csv"]},
        "state": {"enum": ["queued", "running", "done", "failed", "expired"]},
        "progress": {"type": "integer", "minimum": 0, "maximum": 100},
        "pupil": {"type": "string", "description": "The pupil's id (a chronology)."},
        "created_at": {"type": "string", "format": "date-time"},
        "finished_at": {"type": "string", "format": "date-time"},
        "expires_at": {"type": "string", "format": "date-time"},
        "expired_at": {"type": "string", "format": "date-time"},
        "file": {"type": "string", "description": "The download's path, once done."},
        "filename": {"type": "string"},
        "size_bytes": {"type": "integer"},
        "error": {"type": "string"},
    },
}

CHRONOLOGY_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "kind": {"const": "chronology"},
        "format": _FORMAT,
        "from": _DATE,
        "to": _DATE,
        "categories": {"type": "array", "items": {"type": "string"}, "maxItems": 100},
        "entries": {
            "type": "array",
            "items": {"type": "string", "format": "uuid"},
            "description": "The incidents picked as significant; all of them when absent.",
        },
        "staff_names": {"type": "boolean", "default": True},
    },
}

REPORT_REQUEST: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["governors", "ofsted"]},
        "format": _FORMAT,
        "from": _DATE,
        "to": _DATE,
    },
}


def paths(problems: Problems) -> dict[str, Any]:
    accepted = {
        "description": "Queued: the worker makes it; poll the export.",
        "content": {"application/json": {"schema": EXPORT}},
        "headers": {"Location": {"schema": {"type": "string"}}},
    }
    refused = problems(401, 403, 404, 413, 415, 422, 503)
    return {
        "/v1/pupils/{pupil_id}/exports": {
            "post": {
                "summary": "Export a pupil's chronology (elevated DSL/SLT; audited).",
                "security": _SESSION,
                "parameters": [_param("pupil_id", {"type": "string"})],
                "requestBody": _body(CHRONOLOGY_REQUEST),
                "responses": {"202": accepted, **refused},
            }
        },
        "/v1/schools/{school_id}/reports": {
            "post": {
                "summary": "A governors' report or the Ofsted pack (elevated DSL/SLT; audited).",
                "security": _SESSION,
                "parameters": [_param("school_id", {"type": "string", "format": "uuid"})],
                "requestBody": _body(REPORT_REQUEST),
                "responses": {"202": accepted, **refused},
            }
        },
        "/v1/exports/{export_id}": {
            "get": {
                "summary": "An export's state and progress, and its file once done.",
                "security": _SESSION,
                "parameters": [_param("export_id", {"type": "string", "format": "uuid"})],
                "responses": {
                    "200": {
                        "description": "The export.",
                        "content": {"application/json": {"schema": EXPORT}},
                    },
                    **problems(401, 403, 404, 503),
                },
            }
        },
        "/v1/exports/{export_id}/file": {
            "get": {
                "summary": "The PDF or CSV, as an attachment (audited).",
                "security": _SESSION,
                "parameters": [_param("export_id", {"type": "string", "format": "uuid"})],
                "responses": {
                    "200": {
                        "description": "The file (Content-Disposition: attachment).",
                        "content": {
                            "application/pdf": {"schema": {"type": "string"}},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    **problems(401, 403, 404, 503),
                    "409": _problem("Still being made: no file yet."),
                    "410": _problem("Expired: the file was deleted (the export is kept)."),
                },
            }
        },
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _problem(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Problem"}
    return {"description": description, "content": {"application/problem+json": {"schema": schema}}}
