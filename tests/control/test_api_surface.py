"""The control plane's surface: OpenAPI against the app's routes, the dashboard, the feed's
lifetime (no task left when a client goes, streams closed on shutdown)."""

from __future__ import annotations

import asyncio
import json
from importlib import resources

import aiohttp
import pytest

from emulator.app import create_app
from emulator.config import Settings
from emulator.control.plane import CONTROL
from emulator.process.server import EmulatorServer

pytestmark = pytest.mark.timeout(60)

# The demo page's helpers share the prefix but belong to emulator/demo.py.
NOT_CONTROL = ("/_emulator/demo/", "/_emulator/dev/")


def test_every_control_route_is_in_the_openapi_document_and_back():
    spec = json.loads(resources.files("emulator.control").joinpath("openapi.json").read_text())
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    app = create_app(Settings(turn=False))
    served = {
        (route.method, route.resource.canonical)
        for route in app.router.routes()
        if route.resource.canonical.startswith("/_emulator/")
        and not route.resource.canonical.startswith(NOT_CONTROL)
        and route.method != "HEAD"
    }
    assert served == documented


async def test_the_openapi_document_and_dashboard_are_served(emulator):
    resp = await emulator.http.get("/_emulator/openapi.json")
    assert resp.status == 200 and (await resp.json())["openapi"].startswith("3.")
    page = await emulator.http.get("/_emulator/")
    assert page.status == 200 and page.content_type == "text/html"
    text = await page.text()
    assert "/_emulator" in text and "fetch(" in text


async def test_the_feed_reports_a_call_and_forgets_a_client_that_leaves(
    emulator, make_sdk_client, feed
):
    client = make_sdk_client(emulator)
    conversation_id = await client.connect()
    started = await feed.wait(lambda e: e["type"] == "session.started")
    assert started["conversation_id"] == conversation_id
    message = await feed.wait(lambda e: e["type"] == "session.datachannel")
    assert message["direction"] == "out" and message["event"]["type"] == "session.created"
    await client.hangup()
    ended = await feed.wait(lambda e: e["type"] == "session.ended")
    assert ended["end_reason"] == "peer_closed"

    plane = emulator.app[CONTROL]
    assert plane.feed.subscribers == 1
    tasks_before = len(asyncio.all_tasks())
    await feed.close()
    async with asyncio.timeout(5):  # noticed within the feed's 1 s poll
        await plane.feed.wait_idle()
    assert plane.feed.subscribers == 0
    assert len(asyncio.all_tasks()) <= tasks_before


async def test_shutdown_ends_open_streams():
    server = EmulatorServer(Settings(port=0, turn=False))
    await server.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(server.base_url + "/_emulator/events") as resp:
                assert resp.status == 200
                await resp.content.readline()  # the stream is open
                closing = asyncio.ensure_future(server.close())
                async with asyncio.timeout(5):
                    rest = await resp.content.read()  # returns once the server ends it
                await closing
        assert b"event:" not in rest
    finally:
        await server.close()
