"""Admin endpoints for a school's alert rules: helper B fills this (it overwrites this stub)."""

from __future__ import annotations

from aiohttp import web


def add_routes(app: web.Application) -> None:
    pass
