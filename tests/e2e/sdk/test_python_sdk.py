"""The Python backend SDK `orga-ai` 1.0.0-beta.1, unmodified, against the emulator as a process.

The SDK is built from the current SDK sources (tests/kit/sdk_sources.py; tests/run.sh installs it
into .venv). It does what a user's Python backend does: swap the API key for an ephemeral token
and ICE servers (`OrgaAI.get_session_config()`, or `get_session_config_sync()`). A browser or app
then makes the call with them; here the emulator's own WebRTC client
(emulator.testing.client.OrgaClient) plays that part, handed the SDK's token and ICE servers,
relay-only so the SDK's TURN credentials are what carries the media.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from collections.abc import AsyncIterator
from types import ModuleType
from typing import Any

import aiohttp
import jwt
import pytest

from emulator.config import DEV_API_KEY
from emulator.testing.client import OrgaClient, SessionConfig, wav_pcm
from emulator.testing.process import start_emulator
from tests.kit.paths import SPEECH
from tests.kit.sdk_sources import require_sdk_source

# The SDK first: without its sources, the module skips before any emulator starts.
pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("sdk")]

EMAIL = "python-backend@example.com"
TRANSCRIPT = "conversation.item.input_audio_transcription.completed"


@pytest.fixture(scope="module")
def sdk() -> ModuleType:
    """The `orga_ai` package; skips without the SDK sources (fails under ORGA_SDK_REQUIRED=1)."""
    require_sdk_source()
    try:
        import orga_ai
    except ImportError:
        pytest.fail(
            "the orga-ai SDK is not installed in this environment: run tests/run.sh "
            "(it installs packages/server/python from the SDK sources)",
            pytrace=False,
        )
    assert orga_ai.__version__ == "1.0.0-beta.1", orga_ai.__version__
    return orga_ai


def sdk_config(sdk: ModuleType, base_url: str, **overrides: Any) -> Any:
    fields = {"api_key": DEV_API_KEY, "user_email": EMAIL, "base_url": base_url, **overrides}
    return sdk.OrgaAIConfig(**fields)


def check_session_config(sdk: ModuleType, config: Any, email: str) -> None:
    """What the SDK returns is a usable token for `email` and the emulator's STUN and TURN."""
    assert isinstance(config, sdk.SessionConfig)
    claims = jwt.decode(config.ephemeral_token, options={"verify_signature": False})
    assert claims["email"] == email and claims["scope"] == "api"
    assert claims["exp"] - claims["iat"] == 900
    assert all(isinstance(server, sdk.IceServer) for server in config.ice_servers)
    urls = [
        server.urls if isinstance(server.urls, str) else server.urls[0]
        for server in config.ice_servers
    ]
    assert [url.split(":")[0] for url in urls] == ["stun", "turn"], urls
    stun, turn = config.ice_servers
    assert stun.username is None and stun.credential is None
    # TURN REST credentials that expire with the token.
    assert turn.username.startswith(f"{claims['exp']}:") and turn.credential


# --- the session config -------------------------------------------------------------------------


async def test_the_async_client_gets_a_token_and_ice_servers(sdk, module_emulator):
    async with sdk.OrgaAI(sdk_config(sdk, module_emulator.base_url)) as orga:
        config = await orga.get_session_config()
    check_session_config(sdk, config, EMAIL)


def test_the_sync_helper_gets_a_token_and_ice_servers(sdk, module_emulator):
    config = sdk.get_session_config_sync(sdk_config(sdk, module_emulator.base_url))
    check_session_config(sdk, config, EMAIL)


def test_the_sdk_always_sends_an_email(sdk, module_emulator):
    """orga-ai 1.0.0-beta.1 refuses to be built without `user_email`, so the email-less
    client-secrets call (a token for the API key's own account, CONTRACT 1) is never made by it.
    Should a later version allow it, this fails and that case belongs here."""
    with pytest.raises(sdk.OrgaAIError, match="User email is required"):
        sdk.OrgaAI(sdk_config(sdk, module_emulator.base_url, user_email=""))
    with pytest.raises(sdk.OrgaAIError, match="Invalid email format"):
        sdk.OrgaAI(sdk_config(sdk, module_emulator.base_url, user_email="not-an-email"))


# --- errors -------------------------------------------------------------------------------------


async def test_a_wrong_api_key_raises_the_authentication_error(sdk, module_emulator):
    config = sdk_config(sdk, module_emulator.base_url, api_key="sk_orga_ai_wrong")
    async with sdk.OrgaAI(config) as orga:
        with pytest.raises(sdk.OrgaAIAuthenticationError) as raised:
            await orga.get_session_config()
    assert raised.value.status == 401 and raised.value.code == "AUTHENTICATION_ERROR"
    with pytest.raises(sdk.OrgaAIAuthenticationError):
        sdk.get_session_config_sync(config)


async def test_an_unknown_user_is_a_server_error_with_the_status(sdk):
    closed = start_emulator("--no-turn", "--users", "only@example.com")
    try:
        known = sdk_config(sdk, closed.base_url, user_email="only@example.com")
        async with sdk.OrgaAI(known) as orga:
            token = (await orga.get_session_config()).ephemeral_token
        assert jwt.decode(token, options={"verify_signature": False})["email"] == "only@example.com"

        unknown = sdk_config(sdk, closed.base_url, user_email="someone@example.com")
        async with sdk.OrgaAI(unknown) as orga:
            with pytest.raises(sdk.OrgaAIServerError) as raised:
                await orga.get_session_config()
    finally:
        assert closed.stop() == 0
    error = raised.value
    assert not isinstance(error, sdk.OrgaAIAuthenticationError)
    assert error.status == 404 and error.code == "SERVER_ERROR"
    assert "Not Found" in error.message


# --- a whole call with what the SDK returned ----------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def next_feed_event(
    feed: aiohttp.ClientResponse, kind: str, conversation_id: str, timeout: float = 10
) -> dict[str, Any]:
    """The next event `kind` about `conversation_id` on the live feed (Server-Sent Events)."""
    async with asyncio.timeout(timeout):
        event, data = None, []
        async for raw in feed.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].strip())
            elif not line:
                if event == kind and data:
                    payload = json.loads("\n".join(data))
                    if payload.get("conversation_id") == conversation_id:
                        return payload
                event, data = None, []
    raise AssertionError(f"the live feed ended before {kind} of {conversation_id}")


async def test_a_whole_call_with_the_sdk_token_and_ice_servers(sdk, module_emulator, http):
    async with sdk.OrgaAI(sdk_config(sdk, module_emulator.base_url)) as orga:
        config = await orga.get_session_config()

    # The call's side holds only what the backend handed over. A wrong API key: were the client
    # to fetch a token of its own instead of using the SDK's, it would get a 401.
    client = OrgaClient(module_emulator.base_url, "sk_orga_ai_not_for_browsers", http=http)
    client.config = SessionConfig(
        config.ephemeral_token, [dataclasses.asdict(server) for server in config.ice_servers]
    )
    try:
        conversation_id = await client.connect(
            relay_only=True, voice="ash", return_transcription=True
        )
        assert client.pc.connectionState == "connected"
        local, _ = client.selected_candidate_pair()
        assert local.type == "relay"  # the SDK's TURN credentials carry the media
        created = await client.next_event("session.created")
        assert created["session"]["voice"] == "ash"
        assert created["session"]["return_transcription"] is True
        conversation = await client.next_event("conversation.created")
        assert conversation["conversation"]["id"] == conversation_id

        said = asyncio.get_running_loop().time()
        client.say(wav_pcm(SPEECH / "hello.wav"))
        heard = await client.next_event(TRANSCRIPT, timeout=15)
        assert heard["transcript"].strip()
        reply = await client.next_event("response.output_item.done", timeout=15)
        assert reply["text"].strip()
        assert await client.received_audio.wait_for_loud(after=said, timeout=15) > said

        async with http.get(module_emulator.base_url + "/_emulator/events") as feed:
            assert feed.status == 200
            await feed.content.readline()  # the greeting: written once we are subscribed
            await client.hangup()
            ended = await next_feed_event(feed, "session.ended", conversation_id)
    finally:
        await client.hangup()
    assert ended["end_reason"] == "peer_closed"
    async with http.get(f"{module_emulator.base_url}/_emulator/sessions/{conversation_id}") as resp:
        assert resp.status == 200
        session = await resp.json()
    assert session["state"] == "closed" and session["end_reason"] == "peer_closed"
    assert session["token"]["email"] == EMAIL
    assert session["turns"] == 1
