"""The installed wheel, smoke-tested from a clean virtualenv (tests/run.sh runs this with that
venv's python in isolated mode, outside the checkout, so nothing of the source tree is imported):
start `python -m emulator`, read its ready file, mint a token, make one call with the package's
own client (a tone, answered with a transcript, a reply and audio), fetch every file the package
serves (the demo page and its voices, the dashboard, openapi.json), stop it with SIGTERM.

    python -I tests/kit/wheel_smoke.py
Prints one line per check and `N passed, N failed`; exits 1 on any failure.
"""

from __future__ import annotations

import asyncio
import json
import signal
import tempfile
import urllib.request
from pathlib import Path

CHECKS: list[tuple[str, bool, str]] = []


def check(name: str, ok: bool, detail: str = "") -> None:
    CHECKS.append((name, ok, detail))
    print(f"{'ok  ' if ok else 'FAIL'} {name}{': ' + detail if detail and not ok else ''}")


def get(url: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.read()


async def one_call(base_url: str) -> None:
    from emulator.testing.client import OrgaClient, tone_pcm

    async with OrgaClient(base_url) as client:
        await client.connect(return_transcription=True)
        created = await client.next_event("session.created")
        check("session.created", created["session"]["voice"] == "Sofía", str(created))
        started = asyncio.get_running_loop().time()
        client.say(tone_pcm(440, seconds=1.0))
        heard = await client.next_event(
            "conversation.item.input_audio_transcription.completed", timeout=15
        )
        reply = await client.next_event("response.output_item.done", timeout=15)
        check("transcript and reply", bool(heard["transcript"] and reply["text"]))
        await client.received_audio.wait_for_loud(after=started, timeout=15)
        check("the AI's audio heard", True)


def main() -> int:
    import emulator

    location = Path(emulator.__file__).resolve()
    check("the installed package is imported", "site-packages" in location.parts, str(location))
    from emulator.testing.process import start_emulator  # the wheel's own launcher

    with tempfile.TemporaryDirectory() as tmp:
        try:
            emulator = start_emulator(cwd=tmp)
        except RuntimeError as exc:
            check("started", False, str(exc))
            return 1
        check("started", True)
        base = emulator.base_url
        try:
            token_request = urllib.request.Request(
                base + "/v1/realtime/client-secrets",
                method="POST",
                headers={"Authorization": "Bearer sk_orga_ai_emulator_dev_key"},
            )
            with urllib.request.urlopen(token_request, timeout=10) as response:
                check("minted a token", "ephemeral_token" in json.loads(response.read()))
            for path, marker in (
                ("/", b"Start call"),
                ("/_emulator/demo/demo.js", b"orga-realtime-client-events"),
                ("/_emulator/demo/voices.json", b'"default"'),
                ("/_emulator/", b"<html"),
                ("/_emulator/openapi.json", b'"openapi"'),
            ):
                status, body = get(base + path)
                check(f"serves {path}", status == 200 and marker in body, f"{status}")
            asyncio.run(one_call(base))
        except Exception as exc:  # a failed check, said as one
            check("the smoke test ran through", False, repr(exc))
        finally:
            check("SIGTERM exits 0", emulator.stop(signal.SIGTERM) == 0)
    failed = sum(1 for _, ok, _ in CHECKS if not ok)
    print(f"wheel smoke: {len(CHECKS) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
