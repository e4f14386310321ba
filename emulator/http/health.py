"""Liveness and readiness: /healthz, and /readyz that waits for every component."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


class Readiness:
    """Components that must be up before /readyz says yes, and those still loading that are
    reported but not waited for (the WebRTC code: the first /calls waits for it instead)."""

    def __init__(self, *components: str) -> None:
        self.state = {name: False for name in components}
        self._optional: set[str] = set()

    def expect(self, name: str, *, required: bool = True) -> None:
        self.state.setdefault(name, False)
        if not required:
            self._optional.add(name)

    def mark_ready(self, name: str) -> None:
        self.state[name] = True

    @property
    def ready(self) -> bool:
        return all(up for name, up in self.state.items() if name not in self._optional)

    @property
    def loading(self) -> list[str]:
        return sorted(name for name in self._optional if not self.state[name])


READINESS = web.AppKey("readiness", Readiness)


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


@routes.get("/readyz")
async def readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    body = {
        "status": "ready" if readiness.ready else "starting",
        "components": readiness.state,
        "loading": readiness.loading,  # up, but the first use waits for these
    }
    return web.json_response(body, status=200 if readiness.ready else 503)
