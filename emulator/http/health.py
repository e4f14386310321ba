"""Liveness and readiness: /healthz, and /readyz that waits for every component."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


class Readiness:
    """Components that must be up before /readyz says yes."""

    def __init__(self, *components: str) -> None:
        self.state = {name: False for name in components}

    def expect(self, name: str) -> None:
        self.state.setdefault(name, False)

    def mark_ready(self, name: str) -> None:
        self.state[name] = True

    @property
    def ready(self) -> bool:
        return all(self.state.values())


READINESS = web.AppKey("readiness", Readiness)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    body = {"status": "ready" if readiness.ready else "starting", "components": readiness.state}
    return web.json_response(body, status=200 if readiness.ready else 503)
