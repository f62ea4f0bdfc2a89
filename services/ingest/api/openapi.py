"""The OpenAPI 3.1 document for every ingest request and response, built once per app.

Written by hand next to the code it describes; tests check that every route is in it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from services.ingest.api import access_settings, calendar, categories
from services.ingest.api import openapi_exports as exports
from services.ingest.api import openapi_sars as sars
from services.ingest.api import openapi_schools as schools
from services.ingest.api import openapi_staff as staff
from services.ingest.api.idempotency import HEADER, MAX_KEY_LENGTH
from services.ingest.records import inputs as v
from shared.auth import scopes

Schema = dict[str, Any]


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _ids(description: str, max_items: int) -> Schema:
    return {
        "type": "array",
        "maxItems": max_items,
        "uniqueItems": True,
        "description": description,
        "items": {"type": "string", "minLength": 1, "maxLength": 64},
    }


def _text(max_length: int, min_length: int = 1) -> Schema:
    return {"type": "string", "minLength": min_length, "maxLength": max_length}


_STAMP: Schema = {"type": "string", "format": "date-time"}
_AUTHOR = (
    "Staff external id. Required with an API key (any active staff member of its "
    "school); with a staff session it may be left out and, if sent, must be the "
    "session's own (else 403, field 'author')."
)

SCHEMAS: dict[str, Schema] = {
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "field": {
                "type": "string",
                "description": "The field at fault, as a "
                "path: 'pupil', 'body_map[0].view', 'Idempotency-Key'.",
            },
            "errors": {"type": "array", "items": {"type": "object"}},
            "unknown": {"type": "array", "items": {"type": "string"}},
            "scope": {
                "type": "string",
                "description": "The API key scope the request needs (a 403 to a key).",
            },
        },
    },
    "NewIncident": {
        "type": "object",
        "additionalProperties": False,
        "required": ["pupil", "occurred_at", "description", "categories"],
        "properties": {
            "author": {**_text(64), "description": _AUTHOR},
            "pupil": {**_text(64), "description": "Pupil external id (active, this school)."},
            "occurred_at": {
                **_STAMP,
                "description": "ISO-8601 with a timezone; not in the "
                "future (5 minutes of clock skew allowed).",
            },
            "description": _text(v.MAX_DESCRIPTION),
            "categories": {
                "type": "array",
                "minItems": 1,
                "maxItems": v.MAX_CATEGORIES,
                "uniqueItems": True,
                "items": {"type": "string"},
                "description": "Category slugs. Restricted ones (safeguarding, slt) "
                "only when the author is DSL, deputy DSL, SLT, head or pastoral.",
            },
            "linked_pupils": _ids("Other pupils involved (external ids).", v.MAX_PEOPLE),
            "agencies": {"type": "array", "maxItems": v.MAX_AGENCIES, "items": _text(200)},
            "body_map": {"type": "array", "maxItems": v.MAX_MARKS, "items": _ref("BodyMapMark")},
            "alert_staff": _ids("Staff to alert besides the rules (external ids).", v.MAX_PEOPLE),
        },
    },
    "BodyMapMark": {
        "type": "object",
        "additionalProperties": False,
        "required": ["view", "region"],
        "properties": {
            "view": {"enum": list(v.BODY_MAP_VIEWS)},
            "region": _text(100),
            "note": _text(2000, 0),
        },
    },
    "Incident": {
        "type": "object",
        "required": [
            "id",
            "reference",
            "pupil",
            "author",
            "occurred_at",
            "recorded_at",
            "description",
            "restricted",
            "categories",
            "linked_pupils",
            "agencies",
            "body_map",
            "alert_staff",
            "actions",
            "files",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "reference": {"type": "integer", "description": "Short number staff can quote."},
            "pupil": {"type": "string"},
            "author": {"type": "string"},
            "occurred_at": _STAMP,
            "recorded_at": _STAMP,
            "description": {"type": "string"},
            "restricted": {"type": "boolean"},
            "categories": {"type": "array", "items": {"type": "string"}},
            "linked_pupils": {"type": "array", "items": {"type": "string"}},
            "agencies": {"type": "array", "items": {"type": "string"}},
            "body_map": {"type": "array", "items": _ref("BodyMapMark")},
            "alert_staff": {"type": "array", "items": {"type": "string"}},
            "actions": {"type": "array", "items": _ref("Action")},
            "files": {"type": "array", "items": _ref("File")},
        },
    },
    "NewAction": {
        "type": "object",
        "additionalProperties": False,
        "required": ["description"],
        "properties": {
            "author": {**_text(64), "description": _AUTHOR},
            "description": _text(v.MAX_DESCRIPTION),
            "alert_staff": _ids("Staff to alert besides SLT and pastoral.", v.MAX_PEOPLE),
        },
    },
    "Action": {
        "type": "object",
        "required": ["id", "incident_id", "author", "description", "recorded_at", "alert_staff"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "incident_id": {"type": "string", "format": "uuid"},
            "author": {"type": "string"},
            "description": {"type": "string"},
            "recorded_at": _STAMP,
            "alert_staff": {"type": "array", "items": {"type": "string"}},
        },
    },
    "File": {
        "type": "object",
        "required": [
            "id",
            "filename",
            "content_type",
            "size_bytes",
            "sha256",
            "uploaded_by",
            "uploaded_at",
            "url",
        ],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "filename": {"type": "string"},
            "content_type": {
                "type": "string",
                "description": "Sniffed from the "
                "bytes: pdf, png, jpeg, gif, webp, text, else "
                "application/octet-stream.",
            },
            "size_bytes": {"type": "integer"},
            "sha256": {"type": "string"},
            "uploaded_by": {"type": "string"},
            "uploaded_at": _STAMP,
            "url": {"type": "string"},
        },
    },
    "FileUpload": {
        "type": "object",
        "required": ["file"],
        "properties": {
            "author": {"type": "string", "description": _AUTHOR},
            "file": {"type": "string", "contentMediaType": "application/octet-stream"},
        },
    },
    "Category": {
        "type": "object",
        "required": ["slug", "name", "parent", "restricted", "group", "email_name", "retired"],
        "properties": {
            "slug": {"type": "string"},
            "name": {"type": "string"},
            "parent": {"type": ["string", "null"], "description": "The same as group."},
            "restricted": {"type": "boolean"},
            "group": {"type": ["string", "null"]},
            "email_name": {"type": ["string", "null"]},
            "retired": {"type": "boolean", "description": "Refused for new incidents (422)."},
            "custom": {"type": "boolean", "description": "The school's own, not a default."},
        },
    },
    "NewSchool": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _text(200),
            "admin": {
                "type": "object",
                "description": "The school's first admin: emailed a set-password link.",
                "additionalProperties": False,
                "required": ["email", "first_name", "last_name"],
                "properties": {
                    "email": _text(254),
                    "first_name": _text(100),
                    "last_name": _text(100),
                },
            },
        },
    },
    "School": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "admin": {"type": "string", "format": "uuid", "description": "The admin's id."},
        },
    },
    "NewApiKey": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {
            "name": _text(200),
            "scopes": {
                "type": "array",
                "maxItems": len(scopes.ALL),
                "items": {"enum": list(scopes.ALL)},
                "description": "What the key may do; without it: "
                + ", ".join(scopes.DEFAULT)
                + ". `alerts:staff` (list staff members' alerts and mark them read for them), "
                "`restricted` (post restricted categories, with a DSL/SLT/pastoral author) and "
                "`roster:write` (the roster import) are never defaults.",
            },
            "authors": {
                "type": ["array", "null"],
                "maxItems": scopes.MAX_AUTHORS,
                "items": _text(64),
                "description": "The staff ids the key may post as; absent or null: any.",
            },
        },
    },
    "ApiKey": {
        "type": "object",
        "required": ["key", "id", "name", "scopes", "authors"],
        "properties": {
            "key": {"type": "string", "description": "Shown once."},
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "scopes": {"type": "array", "items": {"enum": list(scopes.ALL)}},
            "authors": {"type": ["array", "null"], "items": {"type": "string"}},
        },
    },
    "ApiKeyListed": {
        "type": "object",
        "required": ["id", "name", "scopes", "authors", "created_at", "revoked_at"],
        "description": "A key without its secret.",
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "name": {"type": "string"},
            "scopes": {"type": "array", "items": {"enum": list(scopes.ALL)}},
            "authors": {"type": ["array", "null"], "items": {"type": "string"}},
            "created_at": {"type": "string", "format": "date-time"},
            "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        },
    },
    "Roster": {
        "type": "object",
        "additionalProperties": False,
        "required": ["staff", "classes", "pupils"],
        "description": "The whole roster: anyone absent is marked inactive, never deleted.",
        "properties": {
            "staff": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "email", "first_name", "last_name", "initials", "roles"],
                    "properties": {
                        "id": _text(64),
                        "email": {"type": "string", "format": "email"},
                        "first_name": _text(100),
                        "last_name": _text(100),
                        "initials": _text(5),
                        "roles": {
                            "type": "array",
                            "items": {
                                "enum": [
                                    "teacher",
                                    "teaching_assistant",
                                    "slt",
                                    "head",
                                    "pastoral",
                                    "dsl",
                                    "deputy_dsl",
                                    "admin",
                                ]
                            },
                        },
                    },
                },
            },
            "classes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "name"],
                    "properties": {
                        "id": _text(64),
                        "name": _text(100),
                        "teachers": _ids("Staff ids in this roster.", 50),
                    },
                },
            },
            "pupils": {
                "type": "array",
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["id", "first_name", "last_name"],
                    "properties": {
                        "id": _text(64),
                        "first_name": _text(100),
                        "last_name": _text(100),
                        "date_of_birth": {"type": ["string", "null"], "format": "date"},
                        "classes": _ids("Class ids in this roster.", 50),
                    },
                },
            },
        },
    },
    "AlertRule": {
        "type": "object",
        "required": ["event_kind", "roles", "class_teachers"],
        "description": "Rules are data. Need-to-know on restricted incidents is enforced "
        "whatever the rules say.",
        "properties": {
            "id": {"type": "string", "format": "uuid", "readOnly": True},
            "event_kind": {"enum": ["incident", "action"]},
            "category": {
                "type": ["string", "null"],
                "description": "Category slug; null: every event.",
            },
            "roles": {"type": "array", "items": {"type": "string"}},
            "class_teachers": {"type": "boolean"},
        },
    },
    "RosterCounts": {
        "type": "object",
        "required": ["staff", "pupils", "classes"],
        "properties": {k: {"type": "integer"} for k in ("staff", "pupils", "classes")},
    },
}

_PROBLEMS = {
    "400": "Malformed JSON or request.",
    "401": "Missing or invalid credentials.",
    "403": "Not allowed: a restricted category and the author is not DSL/SLT/pastoral (field "
    "'categories'); a session naming another author (field 'author'); a session "
    "without its X-CSRF-Token on a change, or one that must enrol an authenticator.",
    "404": "No such resource in this school.",
    "405": "Incidents and actions are append-only: no PUT, PATCH or DELETE (Allow header).",
    "409": "Concurrent conflict; retry.",
    "413": "Body or file too large.",
    "415": "Wrong Content-Type, or an executable file.",
    "422": "Invalid input; 'field' names the field.",
    "429": "This API key is over its rate; see Retry-After.",
    "503": "Overloaded or a dependency is unavailable; see Retry-After.",
}
_RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}


def _problems(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _PROBLEMS[str(status)],
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        if status in (429, 503):
            response["headers"] = _RETRY_AFTER
        if status == 405:
            response["headers"] = {"Allow": {"schema": {"type": "string"}}}
        out[str(status)] = response
    return out


def _json(name: str, description: str, **headers: str) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": _ref(name)}},
    }
    if headers:
        response["headers"] = {
            h: {"schema": {"type": "string"}, "description": d} for h, d in headers.items()
        }
    return response


def _body(name: str, example: Schema | None = None) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": _ref(name)}
    if example is not None:
        media["example"] = example
    return {"required": True, "content": {"application/json": media}}


_INCIDENT_EXAMPLE: Schema = {
    "author": "S06",
    "pupil": "P0001",
    "occurred_at": "2024-11-27T10:15:00Z",
    "description": "Bruise on left forearm noticed at morning register.",
    "categories": ["cause-for-concern/injury-bruise"],
    "body_map": [{"view": "front", "region": "left forearm", "note": "about 3 cm"}],
}


def _param(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "format": "uuid"},
    }


_IDEMPOTENCY = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    "description": "Per caller (the API key, or the member of staff signed in). The same "
    "key and body returns the first result with 200 and 'Idempotent-Replayed: true', while "
    "the caller may still see it (else 404), audited as a view; the same key with a "
    "different body is refused with 422 (field 'Idempotency-Key').",
}
_API: list[dict[str, list[str]]] = [{"apiKey": []}, {"session": []}]
_ADMIN: list[dict[str, list[str]]] = [{"adminToken": []}]
_ALWAYS = (401, 403, 429, 503)
_WITH_BODY = (400, 413, 415, 422)
_APPEND_ONLY = {
    m: {
        "summary": "Not allowed: records are append-only.",
        "security": _API,
        "responses": _problems(405),
    }
    for m in ("put", "patch", "delete")
}


_RULES: Schema = {"type": "array", "items": _ref("AlertRule")}


def _rules(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _RULES}}}


def _paths() -> dict[str, Any]:
    incident = [_param("incident_id")]
    return {
        "/v1/schools": {
            "post": {
                "summary": "Create a school (seeds default categories and alert rules).",
                "security": _ADMIN,
                "requestBody": _body("NewSchool"),
                "responses": {"201": _json("School", "Created."), **_problems(*_WITH_BODY, 401)},
            }
        },
        "/v1/schools/{school_id}/api-keys": {
            "post": {
                "summary": "Issue an API key for a school; the key is shown only here.",
                "security": _ADMIN,
                "parameters": [_param("school_id")],
                "requestBody": _body("NewApiKey"),
                "responses": {
                    "201": _json("ApiKey", "Created."),
                    **_problems(*_WITH_BODY, 401, 404),
                },
            },
            "get": {
                "summary": "The school's API keys, without their secrets.",
                "security": _ADMIN,
                "parameters": [_param("school_id")],
                "responses": {
                    "200": {
                        "description": "Every key, revoked ones included, oldest first.",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": _ref("ApiKeyListed")}
                            }
                        },
                    },
                    **_problems(401, 404),
                },
            },
        },
        "/v1/schools/{school_id}/api-keys/{key_id}": {
            "delete": {
                "summary": "Revoke a key: refused (401) at once, by every process.",
                "security": _ADMIN,
                "parameters": [_param("school_id"), _param("key_id")],
                "responses": {
                    "204": {"description": "Revoked (again, if it already was)."},
                    **_problems(401, 404, 503),
                },
            }
        },
        "/v1/schools/{school_id}/roster": {
            "put": {
                "summary": "Upsert the school's staff, classes and pupils (idempotent); the "
                "admin token, an elevated admin session, or the school's own API key with "
                "`roster:write`.",
                "security": [*_ADMIN, {"session": []}, {"apiKey": []}],
                "parameters": [_param("school_id")],
                "requestBody": _body("Roster"),
                "responses": {
                    "200": _json("RosterCounts", "Imported."),
                    **_problems(*_WITH_BODY, 401, 403, 404, 429, 503),
                },
            }
        },
        "/v1/schools/{school_id}/alert-rules": {
            "get": {
                "summary": "The school's alert rules.",
                "security": categories.ADMINS,
                "parameters": [_param("school_id")],
                "responses": {"200": _rules("The rules."), **_problems(401, 403, 404)},
            },
            "put": {
                "summary": "Replace the school's alert rules at once.",
                "security": categories.ADMINS,
                "parameters": [_param("school_id")],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "oneOf": [
                                    _RULES,
                                    {
                                        "type": "object",
                                        "required": ["rules"],
                                        "properties": {"rules": _RULES},
                                    },
                                ]
                            }
                        }
                    },
                },
                "responses": {
                    "200": _rules("The rules now."),
                    **_problems(*_WITH_BODY, 401, 403, 404),
                },
            },
        },
        "/v1/categories": {
            "get": {
                "summary": "The school's categories and their slugs.",
                "security": _API,
                "responses": {
                    "200": {
                        "description": "Categories.",
                        "content": {
                            "application/json": {
                                "schema": {"type": "array", "items": _ref("Category")}
                            }
                        },
                    },
                    **_problems(*_ALWAYS),
                },
            }
        },
        "/v1/incidents": {
            "post": {
                "summary": "Record an incident; durable (with its alert event) before the 201.",
                "description": "An API key needs `incidents:write` (and `restricted` for a "
                "restricted category), and posts only as one of its `authors`.",
                "security": _API,
                "parameters": [_IDEMPOTENCY],
                "requestBody": _body("NewIncident", _INCIDENT_EXAMPLE),
                "responses": {
                    "201": _json("Incident", "Recorded.", Location="/v1/incidents/{id}"),
                    "200": _json(
                        "Incident",
                        "Idempotent replay: recorded earlier with this key.",
                        Location="/v1/incidents/{id}",
                        **{"Idempotent-Replayed": "true"},
                    ),
                    **_problems(*_WITH_BODY, *_ALWAYS, 403, 409),
                },
            }
        },
        "/v1/incidents/{incident_id}": {
            "get": {
                "summary": "An incident with its actions and files.",
                "description": "An API key needs `incidents:read` and reads back only "
                "incidents it posted (restricted ones only with `restricted`), with only the "
                "actions and files it added.",
                "security": _API,
                "parameters": incident,
                "responses": {
                    "200": _json("Incident", "The incident."),
                    **_problems(404, *_ALWAYS),
                },
            },
            "post": {
                "summary": "Not allowed.",
                "security": _API,
                "parameters": incident,
                "responses": _problems(405),
            },
            **{m: {**op, "parameters": incident} for m, op in _APPEND_ONLY.items()},
        },
        "/v1/incidents/{incident_id}/actions": {
            "post": {
                "summary": "Append an action (follow-up); the only way a record changes.",
                "description": "An API key needs `incidents:write`, on incidents it posted. "
                "On a restricted incident only a DSL, deputy DSL, SLT, head or pastoral "
                "author may name staff (422, field alert_staff).",
                "security": _API,
                "parameters": [*incident, _IDEMPOTENCY],
                "requestBody": _body(
                    "NewAction", {"author": "S06", "description": "Spoke to parent at pick-up."}
                ),
                "responses": {
                    "201": _json("Action", "Recorded."),
                    "200": _json("Action", "Idempotent replay.", **{"Idempotent-Replayed": "true"}),
                    **_problems(*_WITH_BODY, *_ALWAYS, 404, 409),
                },
            },
            **{m: {**op, "parameters": incident} for m, op in _APPEND_ONLY.items()},
        },
        "/v1/incidents/{incident_id}/files": {
            "post": {
                "summary": "Attach a file (multipart: author, file). Type is sniffed.",
                "description": "An API key needs `incidents:write`, on incidents it posted.",
                "security": _API,
                "parameters": incident,
                "requestBody": {
                    "required": True,
                    "content": {"multipart/form-data": {"schema": _ref("FileUpload")}},
                },
                "responses": {
                    "201": _json("File", "Stored.", Location="The file's URL."),
                    **_problems(*_WITH_BODY, *_ALWAYS, 404),
                },
            }
        },
        "/v1/incidents/{incident_id}/files/{file_id}": {
            "get": {
                "summary": "Download a file: always an attachment, never inline.",
                "security": _API,
                "parameters": [*incident, _param("file_id")],
                "responses": {
                    "200": {
                        "description": "The bytes, with Content-Disposition: attachment and "
                        "X-Content-Type-Options: nosniff.",
                        "content": {"application/octet-stream": {"schema": {"type": "string"}}},
                    },
                    **_problems(404, *_ALWAYS),
                },
            }
        },
        "/v1/openapi.json": {
            "get": {
                "summary": "This document.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "OpenAPI 3.1.",
                        "content": {"application/json": {"schema": {}}},
                    }
                },
            }
        },
        **_operations_paths(),
    }


def _operations_paths() -> dict[str, Any]:
    plain = {"description": "JSON status.", "content": {"application/json": {"schema": {}}}}
    return {
        "/healthz": {"get": {"summary": "Alive.", "security": [], "responses": {"200": plain}}},
        "/readyz": {
            "get": {
                "summary": "PostgreSQL and Redis reachable.",
                "security": [],
                "responses": {"200": plain, "503": {**plain, "description": "Not ready."}},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics.",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Prometheus text format.",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    }
                },
            }
        },
    }


def document(pages: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """Ingest's own paths with the staff fragment (sign-in, authenticators, chronology) and
    the staff pages (`pages`: (method, path) as served) merged in (tests check that neither
    redefines the other's paths or schemas)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Beacon ingest",
            "version": "1",
            "description": "Incidents and actions from staff and other apps. Staff, "
            "pupils and classes are named by the school's own (MIS) ids. Every /v1 "
            "endpoint but the admin ones takes an API key or a staff session. An API key "
            "holds scopes (incidents:write, incidents:read, alerts:read by default; "
            "alerts:staff, restricted, roster:write when granted); a request outside them "
            "answers 403 naming the scope (`scope`).",
        },
        "paths": {
            **_paths(),
            **access_settings.openapi_paths(_problems),
            **categories.openapi_paths(_problems),
            **calendar.openapi_paths(_problems),
            **exports.paths(_problems),
            **sars.paths(_problems),
            **schools.paths(_problems),
            **staff.paths(),
            **staff.page_paths(pages or []),
        },
        "components": {
            "schemas": {**SCHEMAS, **staff.SCHEMAS, **schools.SCHEMAS},
            "securitySchemes": {
                "apiKey": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A school's API key.",
                },
                "adminToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "BEACON_ADMIN_TOKEN.",
                },
                **staff.SECURITY_SCHEMES,
            },
        },
    }


DOCUMENT = web.AppKey("openapi", dict)


async def get_document(request: web.Request) -> web.Response:
    return web.json_response(request.app[DOCUMENT])
