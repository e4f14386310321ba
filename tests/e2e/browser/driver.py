"""Headless browsers for the suite, driven through tests/js/browser/bridge.mjs.

The bridge (playwright-core on Debian's /usr/bin/chromium, or puppeteer-core on firefox-esr over
WebDriver BiDi) executes commands; every assertion stays here in Python. Each command has a
deadline, so a hung browser fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.kit import paths
from tests.kit.paths import JS_DIR
from tests.kit.tools import RUN_SH

ARTIFACTS = paths.ARTIFACTS / "browser"
CHROMIUM = os.environ.get("ORGA_TEST_CHROMIUM", "/usr/bin/chromium")
SPEECH_WAV = paths.SPEECH / "hello.wav"

# Chromium as root in a closed network: no sandbox, no GPU, and none of the background
# connections the network would refuse. Fake media: the mic plays the speech fixture once
# (%noloop, then silence: one user turn), and camera permission prompts are auto-accepted.
# Host IPs stay visible in candidates (no mDNS names) so that aiortc can reach them.
BASE_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-features=WebRtcHideLocalIpsWithMdns",
    "--autoplay-policy=no-user-gesture-required",
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    f"--use-file-for-fake-audio-capture={SPEECH_WAV}%noloop",
)
FAKE_AUDIO_FILE_FLAG = "--use-file-for-fake-audio-capture="
# Firefox (Debian's firefox-esr, over WebDriver BiDi): fake media without prompts, autoplay,
# and the same closed-network manners as Chromium's flags.
FIREFOX = os.environ.get("ORGA_TEST_FIREFOX", "/usr/bin/firefox-esr")
FIREFOX_PREFS = {
    "media.navigator.streams.fake": True,
    "media.navigator.permission.disabled": True,
    "media.autoplay.default": 0,
    "media.autoplay.block-webaudio": False,
    # No sound card here: a mock audio backend lets WebAudio and playback run anyway.
    "media.cubeb.force_mock_context": True,
    "media.autoplay.blocking_policy": 0,
    "media.peerconnection.ice.obfuscate_host_addresses": False,
    "network.captive-portal-service.enabled": False,
    "network.connectivity-service.enabled": False,
    "app.update.disabledForTesting": True,
    "datareporting.policy.dataSubmissionEnabled": False,
}
LAUNCH_TIMEOUT = 30.0
BACKEND_STARTUP_TIMEOUT = 30.0


class BrowserError(AssertionError):
    """A command failed in the browser; the message carries the page's console."""


def require_browser_tools(engine: str = "chromium") -> None:
    """A missing piece is a failure that says what to install, never a skip."""
    problems = []
    if engine == "chromium" and not Path(CHROMIUM).exists():
        problems.append(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    if engine == "firefox" and not Path(FIREFOX).exists():
        problems.append(f"Firefox not found at {FIREFOX} (apt-get install firefox-esr)")
    if shutil.which("node") is None:
        problems.append("node not found (apt-get install nodejs npm)")
    driver = "puppeteer-core" if engine == "firefox" else "playwright-core"
    if not (JS_DIR / "node_modules" / driver).is_dir():
        problems.append("tests/js/node_modules is missing: run `npm ci` in tests/js")
    if problems:
        pytest.fail(
            "the browser suite cannot run: " + "; ".join(problems) + f" ({RUN_SH})", pytrace=False
        )


class Browser:
    """One headless browser with one page: Chromium by default, or Firefox."""

    def __init__(
        self,
        *extra_args: str,
        engine: str = "chromium",
        prefs: dict[str, Any] | None = None,
        accept_insecure_certs: bool = False,
        fake_audio_file: bool = True,
    ) -> None:
        """Chromium with `extra_args` flags, or Firefox with `prefs` (and, for one test only,
        every certificate accepted). `fake_audio_file=False` leaves Chromium's microphone its
        built-in fake (a beep), without --use-file-for-fake-audio-capture."""
        require_browser_tools(engine)
        self.engine = engine
        if engine == "firefox":
            options = {
                "browser": "firefox",
                "executablePath": FIREFOX,
                "args": list(extra_args),
                "prefs": {**FIREFOX_PREFS, **(prefs or {})},
                "acceptInsecureCerts": accept_insecure_certs,
            }
        else:
            options = {
                "browser": "chromium",
                "executablePath": CHROMIUM,
                "args": [
                    *(
                        arg
                        for arg in BASE_ARGS
                        if fake_audio_file or not arg.startswith(FAKE_AUDIO_FILE_FLAG)
                    ),
                    *extra_args,
                ],
            }
        self._proc = subprocess.Popen(
            ["node", str(JS_DIR / "browser" / "bridge.mjs"), json.dumps(options)],
            cwd=JS_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self._replies: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._stderr: list[str] = []
        self._next_id = 1
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()
        hello = self._reply(0, LAUNCH_TIMEOUT)
        self.version = hello.get("version")

    def _read_stdout(self) -> None:
        for line in self._proc.stdout:
            try:
                self._replies.put(json.loads(line))
            except ValueError:
                self._stderr.append(line)
        self._replies.put(None)

    def _read_stderr(self) -> None:
        for line in self._proc.stderr:
            self._stderr.append(line)

    def _reply(self, id_: int, timeout: float) -> dict[str, Any]:
        try:
            reply = self._replies.get(timeout=timeout)
        except queue.Empty:
            raise BrowserError(f"the browser did not answer within {timeout:.0f} s") from None
        if reply is None:
            raise BrowserError("the browser bridge exited:\n" + "".join(self._stderr[-40:]))
        if reply.get("id") != id_:
            raise BrowserError(f"out-of-order reply {reply!r} to command {id_}")
        if not reply["ok"]:
            raise BrowserError(reply["error"] + self._console_tail())
        return reply

    def _console_tail(self) -> str:
        try:
            lines = self.command("console", timeout=5) if self._proc.poll() is None else []
        except BrowserError:
            lines = []
        return "\npage console:\n" + "\n".join(lines[-40:]) if lines else ""

    def command(self, op: str, timeout: float = 15.0, **args: Any) -> Any:
        id_ = self._next_id
        self._next_id += 1
        self._proc.stdin.write(json.dumps({"id": id_, "op": op, **args}) + "\n")
        self._proc.stdin.flush()
        return self._reply(id_, timeout).get("result")

    def goto(self, url: str) -> None:
        self.command("goto", timeout=20, url=url)

    def evaluate(self, expression: str, timeout: float = 15.0) -> Any:
        return self.command("evaluate", timeout=timeout, expression=expression)

    def wait_for(self, expression: str, timeout: float = 10.0) -> Any:
        """Wait until `expression` is truthy in the page; returns its value."""
        return self.command(
            "waitFor", timeout=timeout + 5, expression=expression, timeoutMs=timeout * 1000
        )

    def click(self, selector: str) -> None:
        self.command("click", selector=selector)

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        self.command("screenshot", path=str(path))
        return path

    def console(self) -> list[str]:
        return self.command("console")

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)


def start_page_backend(
    argv: list[str], what: str, env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], str]:
    """A test page's Node backend (run in tests/js), once it prints "listening PORT": the
    process and the page's URL (ends with /). Fails, with its output, if it does not start."""
    proc = subprocess.Popen(
        argv,
        cwd=JS_DIR,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line)
            ready.set()
        ready.set()

    threading.Thread(target=pump, daemon=True).start()
    started = ready.wait(BACKEND_STARTUP_TIMEOUT)
    if not started or not lines or not lines[0].startswith("listening "):
        proc.kill()
        proc.wait(10)
        raise AssertionError(f"{what} did not start:\n" + "".join(lines))
    return proc, f"http://127.0.0.1:{lines[0].split()[1]}/"


def wait_until(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll a server-side condition (the page cannot see it) until true or the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"within {timeout} s: {what}")
        time.sleep(0.05)


def wait_closed(read_session: Callable[[], dict[str, Any]], within: float, what: str) -> Any:
    """The session as the control plane describes it, once its state is closed; fails unless
    that happens within `within` seconds."""
    started = time.monotonic()
    final = wait_until(lambda: (s := read_session())["state"] == "closed" and s, within, what)
    assert time.monotonic() - started < within, what
    return final


def wait_connected(browser: Browser) -> str:
    """On a React test app (tests/js: window.orgaTest), once the SDK's hook and its peer
    connection are both connected: the conversation id."""
    browser.wait_for(
        "orgaTest.hook.connectionState === 'connected'"
        " && orgaTest.peers.at(-1).connectionState === 'connected'",
        timeout=15,
    )
    conversation_id = browser.evaluate("orgaTest.hook.conversationId")
    assert conversation_id and conversation_id.startswith("conv_"), conversation_id
    return conversation_id
