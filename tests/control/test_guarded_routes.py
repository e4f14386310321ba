"""The control plane's and the dev helper's checks guard each of their handlers, and no app of
the tree has a middleware (emulator/http/guard.py, emulator/http/middleware.py say why)."""

from __future__ import annotations

import pytest
from aiohttp import web

from emulator.app import create_app
from emulator.config import Settings
from emulator.http.guard import guarded
from tests.control.test_laptop_safety import JSON_HEADERS, assert_envelope, no_cors, raw_request


def _app_tree(app: web.Application) -> list[web.Application]:
    apps = [app]
    for resource in app.router.resources():
        sub = resource.get_info().get("app")
        if isinstance(sub, web.Application):
            apps += _app_tree(sub)
    return apps


def test_no_app_of_the_tree_has_a_middleware() -> None:
    apps = _app_tree(create_app(Settings()))
    assert len(apps) >= 4, apps  # the API, the control plane, the demo files, the dev helper
    assert [list(a.middlewares) for a in apps] == [[] for _ in apps]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/_emulator/nothing-here"), ("POST", "/_emulator/nothing/here")],
)
async def test_a_path_under_the_control_plane_with_no_route_is_a_plain_404(emulator, method, path):
    """No check runs for a route that does not exist: whatever its Host, it changes nothing."""
    host = f"evil.example:{emulator.http.port}"
    status, headers, body = await raw_request(emulator, method, path, {"Host": host})
    assert status == 404, body
    assert body["error"]["type"] == "not_found_error" and path in body["error"]["message"]
    assert no_cors(headers)


async def test_the_same_forged_host_on_a_route_is_refused(emulator):
    host = f"evil.example:{emulator.http.port}"
    status, _, body = await raw_request(
        emulator, "POST", "/_emulator/reset", {"Host": host, **JSON_HEADERS}, b"{}"
    )
    assert status == 403, body
    assert_envelope(body, "host_not_allowed")


async def test_a_guarded_handler_runs_after_its_checks_in_order() -> None:
    seen: list[str] = []
    routes = web.RouteTableDef()

    @routes.get("/x")
    async def handler(request: web.Request) -> web.Response:
        seen.append("handler")
        return web.Response()

    async def first(request: web.Request, guarded_handler: object) -> None:
        assert guarded_handler is handler
        seen.append("first")

    async def refuse(request: web.Request, guarded_handler: object) -> None:
        seen.append("refuse")
        raise web.HTTPForbidden()

    (route,) = guarded(routes, first)
    assert route.path == "/x" and route.method == "GET"
    await route.handler(None)  # type: ignore[arg-type]
    assert seen == ["first", "handler"]
    seen.clear()
    (route,) = guarded(routes, first, refuse)
    with pytest.raises(web.HTTPForbidden):
        await route.handler(None)  # type: ignore[arg-type]
    assert seen == ["first", "refuse"]


def test_only_handler_routes_can_be_guarded() -> None:
    routes = web.RouteTableDef()
    routes.static("/files", ".")
    with pytest.raises(TypeError, match="only handler routes"):
        guarded(routes)
