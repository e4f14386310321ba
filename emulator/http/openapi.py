"""GET /openapi.json: the public API's OpenAPI document, written by hand from the contract
(docs/contract.md) beside this module. The control plane has its own (/_emulator/openapi.json)."""

from __future__ import annotations

from functools import cache
from importlib import resources

from aiohttp import web

routes = web.RouteTableDef()


@cache
def document() -> bytes:
    return resources.files("emulator.http").joinpath("openapi.json").read_bytes()


@routes.get("/openapi.json")
async def openapi(request: web.Request) -> web.Response:
    return web.Response(body=document(), content_type="application/json", charset="utf-8")
