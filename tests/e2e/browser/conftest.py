"""Fixtures of the browser suite: Chromium, the emulator in TLS mode, the SDK app's backend."""

from __future__ import annotations

import json
import ssl
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from emulator.config import DEV_API_KEY
from emulator.process.tls import CA_FILE, CERT_FILE, spki_sha256
from tests.e2e.browser.driver import Browser, require_browser_tools, start_page_backend

USER_EMAIL = "browser@example.com"


@pytest.fixture(scope="session", autouse=True)
def _browser_tools() -> None:
    require_browser_tools()


@pytest.fixture
def browser_factory() -> Iterator[Callable[..., Browser]]:
    """Starts Chromium with extra flags; every browser started is closed after the test."""
    started: list[Browser] = []

    def start(*extra_args: str, **options: Any) -> Browser:
        browser = Browser(*extra_args, **options)
        started.append(browser)
        return browser

    yield start
    for browser in started:
        browser.close()


@dataclass
class TlsEmulator:
    base_url: str
    port: int
    ca_path: Path
    spki: str
    output: list[str]

    def get_json(self, path: str) -> tuple[int, Any]:
        context = ssl.create_default_context(cafile=str(self.ca_path))
        try:
            with urllib.request.urlopen(self.base_url + path, context=context, timeout=5) as r:
                return r.status, json.load(r)
        except urllib.error.HTTPError as exc:
            return exc.code, json.load(exc)

    def chromium_args(self) -> tuple[str, ...]:
        """What the emulator prints for Chromium: map Orga's host to it, accept its cert."""
        return (
            f"--host-resolver-rules=MAP api.orga-ai.com:443 127.0.0.1:{self.port}",
            f"--ignore-certificate-errors-spki-list={self.spki}",
        )

    def firefox_options(self) -> dict[str, Any]:
        """Firefox's way: api.orga-ai.com resolves to localhost, its port 443 goes to ours, and
        (Firefox has no SPKI pin flag) certificate errors are ignored for this test's session."""
        return {
            "prefs": {
                "network.dns.localDomains": "api.orga-ai.com",
                "network.socket.forcePort": f"443={self.port}",
            },
            "accept_insecure_certs": True,
        }


@pytest.fixture
def tls_emulator(emulator_process, tmp_path: Path) -> TlsEmulator:
    tls_dir = tmp_path / "tls"
    emu = emulator_process("--tls", "--tls-dir", str(tls_dir), "--turn-port", "0")
    leaf = x509.load_pem_x509_certificates((tls_dir / CERT_FILE).read_bytes())[0]
    port = int(emu.base_url.rsplit(":", 1)[1])
    return TlsEmulator(emu.base_url, port, tls_dir / CA_FILE, spki_sha256(leaf), emu.output)


@pytest.fixture
def sdk_backend(tls_emulator: TlsEmulator) -> Iterator[str]:
    """The test app's backend (@orga-ai/node against the emulator); yields the page's URL."""
    proc, url = start_page_backend(
        ["node", "browser/backend.mjs", tls_emulator.base_url, DEV_API_KEY, USER_EMAIL],
        "the SDK app's backend",
        {"NODE_EXTRA_CA_CERTS": str(tls_emulator.ca_path)},
    )
    yield url
    proc.terminate()
    proc.wait(10)
