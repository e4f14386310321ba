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

    def mark_down(self, name: str) -> None:
        """A component that was up is gone (the shared state's Redis, say)."""
        self.state[name] = False

    @property
    def ready(self) -> bool:
        return all(up for name, up in self.state.items() if name not in self._optional)

    @property
    def missing(self) -> list[str]:
        """Required components not up."""
        return sorted(n for n, up in self.state.items() if not up and n not in self._optional)

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
        "missing": readiness.missing,
    }
    return web.json_response(body, status=200 if readiness.ready else 503)
