"""The OpenAPI 3.1 part for the staff endpoints (sign-in, reset, authenticators, chronology),
merged into the ingest document by api/openapi.py (paths, schemas, security
schemes). Errors refer to the ingest document's `Problem`."""

from __future__ import annotations

import re
from typing import Any

Schema = dict[str, Any]

SESSION: list[dict[str, list[str]]] = [{"session": []}]
SECURITY_SCHEMES: dict[str, Schema] = {
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "beacon_session",
        "description": "A staff session (POST /v1/session). State-changing requests "
        "also send the session's csrf_token as X-CSRF-Token.",
    },
}
_TITLES = {
    400: "Malformed body.",
    401: "Not signed in, or wrong credentials.",
    403: "CSRF token missing or wrong, or not allowed.",
    404: "Not found, or not yours.",
    413: "Body too large.",
    415: "Not application/json.",
    422: "Invalid input; `field` names it.",
    429: "Too many attempts; see Retry-After.",
    503: "Overloaded or a dependency is down; see Retry-After.",
}
_BODY = (400, 413, 415, 422)
_ALWAYS = (429, 503)


def _ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def _problems(*statuses: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status in statuses:
        response: dict[str, Any] = {
            "description": _TITLES[status],
            "content": {"application/problem+json": {"schema": _ref("Problem")}},
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": {"schema": {"type": "string"}}}
        out[str(status)] = response
    return out


def _json(name: str, description: str) -> Schema:
    return {"description": description, "content": {"application/json": {"schema": _ref(name)}}}


def _body(name: str) -> Schema:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _text(max_length: int) -> Schema:
    return {"type": "string", "minLength": 1, "maxLength": max_length}


_CODE: Schema = {"type": "string", "pattern": "^[0-9]{6}$"}
_STAMP: Schema = {"type": "string", "format": "date-time"}
_EMPTY = {"description": "Done."}
SCHEMAS: dict[str, Schema] = {
    "EmailOnly": {"type": "object", "required": ["email"], "properties": {"email": _text(320)}},
    "NewPassword": {
        "type": "object",
        "required": ["password"],
        "properties": {
            "password": {
                "type": "string",
                "minLength": 1,
                "maxLength": 4096,
                "description": "Checked against the school's policy; a 422 lists the "
                "broken rules in `rules`.",
            }
        },
    },
    "Credentials": {
        "type": "object",
        "required": ["email", "password"],
        "properties": {
            "email": _text(320),
            "password": _text(1024),
            "code": {
                **_CODE,
                "description": "Only when the school requires an authenticator at login.",
            },
        },
    },
    "SessionInfo": {
        "type": "object",
        "required": ["staff", "csrf_token", "elevated"],
        "properties": {
            "staff": {"type": "string"},
            "csrf_token": {"type": "string"},
            "elevated": {"type": "boolean"},
            "enrol_only": {"type": "boolean"},
        },
    },
    "Enrolment": {
        "type": "object",
        "required": ["secret", "provisioning_uri", "qr_svg"],
        "properties": {
            "secret": {"type": "string"},
            "provisioning_uri": {"type": "string"},
            "qr_svg": {"type": "string"},
        },
    },
    "Confirmation": {
        "type": "object",
        "required": ["code"],
        "properties": {"code": _CODE, "device_name": {"type": "string", "maxLength": 100}},
    },
    "Code": {"type": "object", "required": ["code"], "properties": {"code": _CODE}},
    "Devices": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["id", "name", "confirmed_at", "last_used_at"],
            "properties": {
                "id": {"type": "string", "format": "uuid"},
                "name": {"type": "string"},
                "confirmed_at": _STAMP,
                "last_used_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
    },
    "Chronology": {
        "type": "array",
        "items": {
            "type": "object",
            "required": ["kind", "id", "at", "author", "description"],
            "properties": {
                "kind": {"enum": ["incident", "action"]},
                "id": {"type": "string", "format": "uuid"},
                "at": _STAMP,
                "author": {"type": "string"},
                "description": {"type": "string"},
                "reference": {"type": "integer"},
                "recorded_at": _STAMP,
                "pupil": {"type": "string"},
                "restricted": {"type": "boolean"},
                "categories": {"type": "array", "items": {"type": "string"}},
                "incident": {"type": "string", "format": "uuid"},
            },
        },
    },
}


def _path(name: str, fmt: str | None = None) -> Schema:
    schema: Schema = {"type": "string"} | ({"format": fmt} if fmt else {})
    return {"name": name, "in": "path", "required": True, "schema": schema}


def paths() -> dict[str, Any]:
    return {
        "/v1/password-reset": {
            "post": {
                "summary": "Email a one-time link to set a password. Always 202.",
                "security": [],
                "requestBody": _body("EmailOnly"),
                "responses": {
                    "202": {
                        "description": "Accepted (whether or not the address exists).",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    },
                    **_problems(*_BODY, *_ALWAYS),
                },
            }
        },
        "/v1/password-reset/{token}": {
            "post": {
                "summary": "Set the password with a link's token (single use, 30 minutes).",
                "security": [],
                "parameters": [_path("token")],
                "requestBody": _body("NewPassword"),
                "responses": {"204": _EMPTY, **_problems(*_BODY, 404, *_ALWAYS)},
            }
        },
        "/v1/session": {
            "post": {
                "summary": "Sign in; sets the session cookie.",
                "security": [],
                "requestBody": _body("Credentials"),
                "responses": {
                    "201": _json("SessionInfo", "Signed in."),
                    **_problems(*_BODY, 401, *_ALWAYS),
                },
            },
            "delete": {
                "summary": "Sign out.",
                "security": SESSION,
                "responses": {"204": _EMPTY, **_problems(401, 403, *_ALWAYS)},
            },
        },
        "/v1/session/elevate": {
            "post": {
                "summary": "Elevate this session with an authenticator code (rotates the cookie).",
                "security": SESSION,
                "requestBody": _body("Code"),
                "responses": {
                    "200": _json("SessionInfo", "Elevated."),
                    **_problems(*_BODY, 401, 403, *_ALWAYS),
                },
            }
        },
        "/v1/me/totp": {
            "post": {
                "summary": "Start enrolling an authenticator.",
                "security": SESSION,
                "responses": {
                    "201": _json("Enrolment", "Scan or type the secret."),
                    **_problems(401, 403, *_ALWAYS),
                },
            },
            "get": {
                "summary": "My authenticators.",
                "security": SESSION,
                "responses": {
                    "200": _json("Devices", "Confirmed devices."),
                    **_problems(401, 403, *_ALWAYS),
                },
            },
        },
        "/v1/me/totp/confirm": {
            "post": {
                "summary": "Confirm the enrolment with a first code.",
                "security": SESSION,
                "requestBody": _body("Confirmation"),
                "responses": {"204": _EMPTY, **_problems(*_BODY, 401, 403, *_ALWAYS)},
            }
        },
        "/v1/staff/{staff}/totp/{device_id}": {
            "delete": {
                "summary": "Remove an authenticator (own, or anyone's for admin/DSL/SLT; "
                "elevated).",
                "security": SESSION,
                "parameters": [_path("staff"), _path("device_id")],
                "responses": {"204": _EMPTY, **_problems(401, 403, 404, *_ALWAYS)},
            }
        },
        "/v1/pupils/{pupil_id}/chronology": {
            "get": {
                "summary": "A pupil's incidents and actions in time order, as the caller may see.",
                "description": "Staff only: an API key, whatever its scopes, gets 403.",
                "security": SESSION,
                "parameters": [_path("pupil_id")],
                "responses": {
                    "200": _json("Chronology", "Entries, oldest first."),
                    **_problems(401, 403, 404, *_ALWAYS),
                },
            }
        },
    }


_PAGE_ANSWERS = {
    "text/html": {"schema": {"type": "string"}},
}


def page_paths(routes: list[tuple[str, str]]) -> dict[str, Any]:
    """The staff pages (method, path) as the router serves them: HTML answers, a redirect to
    sign in (or back) with no session, forms posted as urlencoded or multipart fields."""
    paths: dict[str, Any] = {}
    for method, path in routes:
        params = [_path(name) for name in re.findall(r"\{(\w+)\}", path)]
        op: dict[str, Any] = {
            "summary": "A staff page (HTML).",
            "security": [],
            "responses": {
                # A redirect's body is aiohttp's own short text; it carries no record.
                status: {"description": what}
                if status == "303"
                else {"description": what, "content": _PAGE_ANSWERS}
                for status, what in _PAGE_STATUSES[method].items()
            },
        }
        if params:
            op["parameters"] = params
        if method == "POST":
            form = {"type": "object", "additionalProperties": {"type": "string"}}
            op["requestBody"] = {
                "content": {
                    "application/x-www-form-urlencoded": {"schema": form},
                    "multipart/form-data": {"schema": form},
                }
            }
        paths.setdefault(path, {})[method.lower()] = op
    return paths


_PAGE_STATUSES = {
    "GET": {
        "200": "The page.",
        "303": "Sign in (or elevate) first, then back.",
        "400": "The address is not right.",
        "404": "Nothing here you may see.",
        "503": "Busy: try again shortly.",
    },
    "POST": {
        "303": "Done: on to the next page.",
        "400": "The form, again, with each field's error.",
        "403": "The form expired (no valid CSRF token) or this is not yours to do.",
        "404": "Nothing here you may see.",
        "413": "Too large.",
        "415": "Not a form.",
        "429": "Too many attempts.",
        "503": "Busy: try again shortly.",
    },
}
