"""The schools' and trusts' part of /v1/openapi.json: the admin audit, trusts and the CSV
roster (services.ingest.api.schools, services.ingest.api.roster_csv)."""

from __future__ import annotations

from typing import Any

Problems = Any  # openapi._problems: (*statuses) -> responses

# The platform token, or an elevated session of the school's admin (or its trust's).
ADMINS: list[dict[str, list[str]]] = [{"adminToken": []}, {"session": []}]
_PLATFORM: list[dict[str, list[str]]] = [{"adminToken": []}]
_UUID = {"type": "string", "format": "uuid"}
_SCHOOL = {"name": "school_id", "in": "path", "required": True, "schema": _UUID}
_TRUST = {"name": "trust_id", "in": "path", "required": True, "schema": _UUID}
_WITH_BODY = (400, 413, 415, 422)

_CHANGES = {"type": "object", "properties": {"added": {}, "changed": {}, "inactive": {}}}

SCHEMAS: dict[str, Any] = {
    "AdminChange": {
        "type": "object",
        "required": ["at", "what", "who", "before", "after"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "what": {"type": "string", "description": "e.g. roster.import, roles.confirmed"},
            "who": {
                "type": "object",
                "properties": {
                    "by": {"enum": ["platform", "session", "api_key"]},
                    "staff": {"type": ["string", "null"], "description": "Staff external id."},
                    "name": {"type": "string"},
                },
            },
            "subject": {"type": ["string", "null"]},
            "before": {},
            "after": {},
        },
    },
    "NewTrust": {
        "type": "object",
        "additionalProperties": False,
        "required": ["name"],
        "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200}},
    },
    "Trust": {
        "type": "object",
        "required": ["id", "name"],
        "properties": {"id": _UUID, "name": {"type": "string"}},
    },
    "SchoolTrust": {
        "type": "object",
        "additionalProperties": False,
        "required": ["trust"],
        "properties": {"trust": {"oneOf": [_UUID, {"type": "null"}]}},
    },
    "NewTrustAdmin": {
        "type": "object",
        "additionalProperties": False,
        "required": ["school", "staff"],
        "properties": {
            "school": _UUID,
            "staff": {"type": "string", "minLength": 1, "maxLength": 64},
        },
    },
    "RosterFiles": {
        "type": "object",
        "properties": {
            t: {"type": "string", "contentMediaType": "text/csv"}
            for t in ("staff", "classes", "pupils")
        },
    },
    "RosterPreview": {
        "type": "object",
        "required": ["token", "staff", "classes", "pupils", "pending_roles", "bad_rows"],
        "properties": {
            "token": {"type": "string", "description": "POST it to .../roster/confirm."},
            "expires_in": {"type": "integer"},
            "staff": _CHANGES,
            "classes": _CHANGES,
            "pupils": _CHANGES,
            "pending_roles": {"type": "array", "items": {"type": "object"}},
            "bad_rows": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "file": {"enum": ["staff", "classes", "pupils"]},
                        "line": {"type": "integer"},
                        "reason": {"type": "string"},
                    },
                },
            },
        },
    },
    "RosterConfirm": {
        "type": "object",
        "additionalProperties": False,
        "required": ["token"],
        "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 100}},
    },
}


def _ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(name: str, description: str, many: bool = False) -> dict[str, Any]:
    schema = {"type": "array", "items": _ref(name)} if many else _ref(name)
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(name: str, media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "content": {media: {"schema": _ref(name)}}}


def paths(problems: Problems) -> dict[str, Any]:
    return {
        "/v1/schools/{school_id}/audit": {
            "get": {
                "summary": "Admin changes (roster, staff, roles, categories, rules, keys, "
                "settings, calendar), newest first.",
                "security": ADMINS,
                "parameters": [
                    _SCHOOL,
                    {"name": "kind", "in": "query", "schema": {"enum": ["admin"]}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500},
                    },
                ],
                "responses": {
                    "200": _json("AdminChange", "The changes.", many=True),
                    **problems(401, 403, 404, 422),
                },
            }
        },
        "/v1/schools/{school_id}/trust": {
            "put": {
                "summary": "Put the school in a trust (or in none: null).",
                "security": _PLATFORM,
                "parameters": [_SCHOOL],
                "requestBody": _body("SchoolTrust"),
                "responses": {
                    "200": {"description": "Done.", "content": {"application/json": {}}},
                    **problems(*_WITH_BODY, 401, 404),
                },
            }
        },
        "/v1/schools/{school_id}/roster/preview": {
            "post": {
                "summary": "Upload the MIS's CSV files: what importing them would change, "
                "and each bad row. Nothing is written.",
                "security": ADMINS,
                "parameters": [_SCHOOL],
                "requestBody": _body("RosterFiles", "multipart/form-data"),
                "responses": {
                    "200": _json("RosterPreview", "The preview."),
                    **problems(*_WITH_BODY, 401, 403, 404),
                },
            }
        },
        "/v1/schools/{school_id}/roster/confirm": {
            "post": {
                "summary": "Import a previewed upload: all of it or none.",
                "security": ADMINS,
                "parameters": [_SCHOOL],
                "requestBody": _body("RosterConfirm"),
                "responses": {
                    "200": _json("RosterCounts", "Imported."),
                    **problems(*_WITH_BODY, 401, 403, 404),
                },
            }
        },
        "/v1/trusts": {
            "post": {
                "summary": "Create a trust.",
                "security": _PLATFORM,
                "requestBody": _body("NewTrust"),
                "responses": {"201": _json("Trust", "Created."), **problems(*_WITH_BODY, 401)},
            }
        },
        "/v1/trusts/{trust_id}/admins": {
            "post": {
                "summary": "Put a member of staff of one of the trust's schools on its central "
                "team: they administer every school of the trust.",
                "security": _PLATFORM,
                "parameters": [_TRUST],
                "requestBody": _body("NewTrustAdmin"),
                "responses": {
                    "201": {"description": "Added.", "content": {"application/json": {}}},
                    **problems(*_WITH_BODY, 401, 404),
                },
            }
        },
        "/v1/trusts/{trust_id}/schools": {
            "get": {
                "summary": "The trust's schools (the platform, or the trust's own admins).",
                "security": ADMINS,
                "parameters": [_TRUST],
                "responses": {
                    "200": _json("Trust", "The schools (id, name).", many=True),
                    **problems(401, 403, 404),
                },
            }
        },
    }
