"""OpenAPI placeholder (filled below)."""
from aiohttp import web


async def get_document(request: web.Request) -> web.Response:
    return web.json_response({})
