"""Checks on the client's SDP offer made before a token is spent on it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from emulator.ai.params import ParamError

if TYPE_CHECKING:
    from aiortc.sdp import SessionDescription

MAX_SDP_BYTES = 256 * 1024


def check_offer_sdp(sdp: str, param: str = "offer.sdp") -> SessionDescription:
    """Parse the offer; raise ParamError unless it is SDP with an audio section we can answer."""
    # aiortc's parser: imported here, on the first /calls, not when the app starts.
    from aiortc.sdp import SessionDescription

    if len(sdp) > MAX_SDP_BYTES:
        raise ParamError(param, "The SDP offer is too large.")
    if not sdp.lstrip().startswith("v=0"):
        raise ParamError(param, "The SDP offer must start with 'v=0'.")
    try:
        parsed = SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc raises whatever its parser trips on
        # Some of its checks are bare asserts, whose message is empty: name the exception then.
        reason = str(exc) or f"{type(exc).__name__} in aiortc's SDP parser"
        raise ParamError(param, f"The SDP offer could not be parsed: {reason}") from None
    audio = [m for m in parsed.media if m.kind == "audio"]
    if not audio:
        raise ParamError(param, "The SDP offer has no audio section.")
    # The echo AI speaks and forwards Opus without transcoding; every browser offers it.
    if not any(c.mimeType.lower() == "audio/opus" for m in audio for c in m.rtp.codecs):
        raise ParamError(param, "The SDP offer's audio section does not offer Opus.")
    for media in parsed.media:
        if media.kind in ("audio", "video") and not (
            media.ice and media.ice.usernameFragment and media.ice.password
        ):
            raise ParamError(param, f"The {media.kind} section has no ICE credentials.")
        # aiortc makes DTLS parameters from a=setup alone, with no fingerprint in them.
        if media.kind in ("audio", "video") and (media.dtls is None or not media.dtls.fingerprints):
            raise ParamError(param, f"The {media.kind} section has no DTLS fingerprint.")
    return parsed
