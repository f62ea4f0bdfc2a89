"""The subject access requests' part of /v1/openapi.json (services.ingest.api.sars)."""

from __future__ import annotations

from typing import Any

from services.ingest.api.openapi_exports import EXPORT

Problems = Any  # openapi._problems: (*statuses) -> responses

_SESSION: list[dict[str, list[str]]] = [{"session": []}]
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}, {"session": []}]
_DATE = {"type": "string", "format": "date"}
_REASON = {"type": "string", "minLength": 1, "maxLength": 1000}
_ID = {
    "name": "sar_id",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "format": "uuid"},
}

SAR: dict[str, Any] = {
    "type": "object",
    "required": ["id", "pupil", "requester", "relationship", "received_on", "due_on", "state"],
    "properties": {
        "id": {"type": "string", "format": "uuid"},
        "pupil": {"type": "string", "description": "The school's pupil id."},
        "requester": {"type": "string"},
        "relationship": {"type": "string"},
        "received_on": _DATE,
        "due_on": {
            **_DATE,
            "description": "One calendar month from receipt (the corresponding date, or the "
            "month's last day), plus the extension's months and the days paused.",
        },
        "state": {"enum": ["open", "paused"]},
        "extension_months": {"type": "integer", "minimum": 0, "maximum": 2},
        "extension_reason": {"type": "string"},
        "paused_days": {"type": "integer", "minimum": 0},
        "paused_on": _DATE,
        "pause_reason": {"type": "string"},
        "created_at": {"type": "string", "format": "date-time"},
        "exports": {"type": "array", "items": EXPORT},
        "third_parties": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["pupil", "staff"]},
                    "id": {"type": ["string", "null"]},
                    "label": {"type": "string"},
                    "redacted": {"type": "boolean"},
                    "redacted_by_default": {"type": "boolean"},
                    "found": {"type": "integer"},
                },
            },
        },
    },
}

NEW_SAR: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["pupil", "requester", "received_on", "relationship"],
    "properties": {
        "pupil": {"type": "string", "minLength": 1, "maxLength": 64},
        "requester": {"type": "string", "minLength": 1, "maxLength": 200},
        "relationship": {"type": "string", "minLength": 1, "maxLength": 100},
        "received_on": {**_DATE, "description": "Not in the future."},
    },
}

HANDLERS: dict[str, Any] = {
    "type": "object",
    "required": ["staff", "redact_staff"],
    "properties": {
        "staff": {"type": "array", "items": {"type": "string"}},
        "redact_staff": {"type": "boolean"},
    },
}


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def _ok(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(required: list[str], **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": required,
        "properties": properties,
    }


def _change(summary: str, body: dict[str, Any], problems: Problems) -> dict[str, Any]:
    return {
        "post": {
            "summary": summary,
            "security": _SESSION,
            "parameters": [_ID],
            "requestBody": _body(body),
            "responses": {
                "200": _ok(SAR, "The request now."),
                **problems(401, 403, 404, 409, 413, 415, 422, 503),
            },
        }
    }


def paths(problems: Problems) -> dict[str, Any]:
    refused = problems(401, 403, 404, 413, 415, 422, 503)
    listing = _object(["sars"], sars={"type": "array", "items": SAR})
    return {
        "/v1/sars": {
            "post": {
                "summary": "Register a subject access request (elevated DSL/SLT or SAR handler).",
                "security": _SESSION,
                "requestBody": _body(NEW_SAR),
                "responses": {"201": _ok(SAR, "Registered; the clock runs."), **refused},
            },
            "get": {
                "summary": "The open requests, soonest due first.",
                "security": _SESSION,
                "responses": {
                    "200": _ok(listing, "Open requests."),
                    **problems(401, 403, 404, 503),
                },
            },
        },
        "/v1/sars/{sar_id}": {
            "get": {
                "summary": "One request, its exports and the third parties its draft found.",
                "security": _SESSION,
                "parameters": [_ID],
                "responses": {"200": _ok(SAR, "The request."), **problems(401, 403, 404, 503)},
            }
        },
        "/v1/sars/{sar_id}/extension": _change(
            "Extend by up to two months, with a reason (audited).",
            _object(["months", "reason"], months={"enum": [1, 2]}, reason=_REASON),
            problems,
        ),
        "/v1/sars/{sar_id}/pause": _change(
            "Stop the clock while identity or scope is clarified.",
            _object(["reason"], reason=_REASON),
            problems,
        ),
        "/v1/sars/{sar_id}/resume": _change(
            "Run the clock again: the due date moves on by the days paused.",
            _object([]),
            problems,
        ),
        "/v1/sars/{sar_id}/decisions": _change(
            "Reveal or redact a third party the review draft found, with a reason (audited).",
            _object(
                ["kind", "id", "decision", "reason"],
                kind={"enum": ["pupil", "staff"]},
                id={"type": "string", "minLength": 1, "maxLength": 64},
                decision={"enum": ["reveal", "redact"]},
                reason=_REASON,
            ),
            problems,
        ),
        "/v1/sars/{sar_id}/exports": {
            "post": {
                "summary": "The review draft, or the final PDF (only after a draft).",
                "security": _SESSION,
                "parameters": [_ID],
                "requestBody": _body(_object(["stage"], stage={"enum": ["draft", "final"]})),
                "responses": {
                    "202": {
                        "description": "Queued: the worker makes it; poll the export.",
                        "content": {"application/json": {"schema": EXPORT}},
                        "headers": {"Location": {"schema": {"type": "string"}}},
                    },
                    **problems(401, 403, 404, 409, 413, 415, 422, 503),
                },
            }
        },
        "/v1/schools/{school_id}/sar-handlers": {
            method: {
                "summary": summary,
                "security": _ADMIN,
                "parameters": [
                    {
                        "name": "school_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "format": "uuid"},
                    }
                ],
                **extra,
                "responses": {"200": _ok(HANDLERS, "The school's SAR handlers."), **statuses},
            }
            for method, summary, extra, statuses in (
                (
                    "get",
                    "Who handles SARs, and whether exports show staff names.",
                    {},
                    problems(401, 404, 503),
                ),
                (
                    "put",
                    "Name the SAR handlers (replaces the list; audited).",
                    {
                        "requestBody": _body(
                            _object(
                                ["staff"],
                                staff={
                                    "type": "array",
                                    "maxItems": 50,
                                    "items": {"type": "string", "minLength": 1, "maxLength": 64},
                                },
                                redact_staff={"type": "boolean"},
                            )
                        )
                    },
                    problems(401, 404, 413, 415, 422, 503),
                ),
            )
        },
    }
