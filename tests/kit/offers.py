"""The SDP offers in fixtures/offers (see its README), ready to replay through /calls.

Their candidates carry a documentation address (192.0.2.10) that is not this machine: replayed
as they are, the emulator would send its connectivity checks there, off the machine. `offer()`
rewrites every address to 127.0.0.1 first, so nothing leaves it.
"""

from __future__ import annotations

import re
from typing import Any

from tests.kit.paths import OFFERS

LOOPBACK = "127.0.0.1"
# The browser offers (captured or shaped by hand), by the browser that makes them.
BROWSER_OFFERS = {
    "chromium": "chromium-sdk-layout",
    "firefox": "firefox-sdk-layout",
    "safari": "safari-shaped",
    "safari-legacy": "safari-legacy-shaped",
}


def names() -> list[str]:
    """Every offer in fixtures/offers, by file name without .sdp."""
    return sorted(path.stem for path in OFFERS.glob("*.sdp"))


def loopback(sdp: str) -> str:
    """`sdp` with every candidate, related and connection address on 127.0.0.1."""
    sdp = re.sub(r"(a=candidate:\S+ \d+ \S+ \d+ )(\S+)( \d+ typ)", rf"\g<1>{LOOPBACK}\g<3>", sdp)
    sdp = re.sub(r"(raddr )(\S+)", rf"\g<1>{LOOPBACK}", sdp)
    sdp = re.sub(r"(a=rtcp:\d+ IN IP4 )(?!0\.0\.0\.0)\S+", rf"\g<1>{LOOPBACK}", sdp)
    return re.sub(r"c=IN IP4 (?!0\.0\.0\.0)\S+", f"c=IN IP4 {LOOPBACK}", sdp)


def offer_sdp(name: str) -> str:
    """The offer `name` as captured (CRLF, as on the wire), every address on loopback."""
    return loopback((OFFERS / f"{name}.sdp").read_bytes().decode())


def offer(name: str) -> dict[str, Any]:
    """The /calls `offer` object for fixture `name`, as a browser posts it."""
    return {"sdp": offer_sdp(name), "type": "offer", "candidates": []}


def candidate_addresses(sdp: str) -> set[str]:
    """Every address in `sdp`'s candidates and connection lines (for checking the rewrite)."""
    found = set(re.findall(r"a=candidate:\S+ \d+ \S+ \d+ (\S+) \d+ typ", sdp))
    found |= set(re.findall(r"raddr (\S+)", sdp))
    return found | set(re.findall(r"c=IN IP4 (\S+)", sdp))
