"""Scripted scenarios: what the AI says, turn by turn, instead of echoing.

A scenario is JSON or YAML (README "Control plane"; examples in fixtures/scenarios/):

    name: greeting
    turns:
      - transcript: "Hello"            # the user's words, as the transcription event says them
        reply: "Hi! How can I help?"   # the AI's reply text
        audio: {wav: ../speech/hello.wav}   # or {wav_base64: "UklGR..."}, {tone: {frequency,
                                            # seconds}}, {silence: {seconds}}, "echo" (the
                                            # user's own audio, the default) or "none"
        delay_ms: 300                  # pause before replying
      - error: {code: rate_limit_exceeded, message: "Slow down."}   # an `error` event instead
    hang_up: {after_turns: 2}          # or {after_seconds: 5}: the server ends the call

A relative `wav` path is read from the scenario file's directory (--scenario FILE) or, for a
scenario posted over HTTP, from --scenario-dir (default: the emulator's working directory);
`wav_base64` carries the file itself, which works from anywhere. Reply audio is encoded to Opus
(libopus, 20 ms frames) once, when the scenario is loaded; a session only queues the packets.
Past its last turn, a scenario answers like the echo AI.
"""

from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulator.ai.params import ParamError
from emulator.ai.responder import EchoResponder, Markup, Reply, ReplyError, UserTurn

MAX_AUDIO_SECONDS = 60.0
ECHO = "echo"
NONE = "none"


class ScenarioError(ParamError):
    """A scenario that cannot be used; `param` names the field."""


@dataclass(frozen=True)
class ScriptedTurn:
    transcript: str | None = None
    reply: str | None = None
    audio: tuple[bytes, ...] | str = ECHO  # Opus packets, or ECHO / NONE
    delay: float = 0.0
    error: ReplyError | None = None
    hang_up: bool = False
    markup: Markup | bool | None = None  # None: as --reply-markup says


@dataclass(frozen=True)
class Scenario:
    name: str
    turns: tuple[ScriptedTurn, ...]
    hang_up_after_turns: int | None = None
    hang_up_after_seconds: float | None = None
    source: dict[str, Any] = field(default_factory=dict, compare=False)

    def summary(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "turns": len(self.turns),
            "hang_up": {
                "after_turns": self.hang_up_after_turns,
                "after_seconds": self.hang_up_after_seconds,
            },
        }


# --- loading ------------------------------------------------------------------------------------


def load_file(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise ScenarioError("scenario", f"Cannot read {path}: {exc}") from None
    return parse_text(text, base=path.parent, name=path.stem)


def parse_text(text: str, base: Path | None = None, name: str = "scenario") -> Scenario:
    """JSON or YAML text (JSON is tried first: it is what most posts are)."""
    try:
        data = json.loads(text)
    except ValueError:
        import yaml  # on use: a YAML scenario is rare, and the emulator starts without it

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ScenarioError("scenario", f"Neither JSON nor YAML: {exc}") from None
    return parse(data, base=base, name=name)


def parse(data: Any, base: Path | None = None, name: str = "scenario") -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("scenario", "A scenario must be an object with 'turns'.")
    turns = data.get("turns", [])
    if not isinstance(turns, list):
        raise ScenarioError("turns", "'turns' must be a list.")
    parsed = tuple(_turn(t, f"turns[{i}]", base) for i, t in enumerate(turns))
    after_turns, after_seconds = None, None
    hang_up = data.get("hang_up")
    if hang_up is not None:
        if not isinstance(hang_up, dict) or not set(hang_up) <= {"after_turns", "after_seconds"}:
            raise ScenarioError("hang_up", "'hang_up' is {after_turns: N} or {after_seconds: T}.")
        after_turns = hang_up.get("after_turns")
        after_seconds = hang_up.get("after_seconds")
        if after_turns is not None and (not isinstance(after_turns, int) or after_turns < 1):
            raise ScenarioError("hang_up.after_turns", "must be a whole number >= 1.")
        if after_seconds is not None and (
            not isinstance(after_seconds, int | float) or after_seconds < 0
        ):
            raise ScenarioError("hang_up.after_seconds", "must be a number >= 0.")
    return Scenario(
        name=str(data.get("name") or name),
        turns=parsed,
        hang_up_after_turns=after_turns,
        hang_up_after_seconds=after_seconds,
        source=data,
    )


def _turn(data: Any, where: str, base: Path | None) -> ScriptedTurn:
    if not isinstance(data, dict):
        raise ScenarioError(where, "A turn must be an object.")
    known = {"transcript", "reply", "audio", "delay_ms", "error", "hang_up", "markup"}
    unknown = set(data) - known
    if unknown:
        raise ScenarioError(where, f"Unknown field(s) {sorted(unknown)}; known: {sorted(known)}.")
    for key in ("transcript", "reply"):
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ScenarioError(f"{where}.{key}", "must be a string.")
    delay = data.get("delay_ms", 0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or not 0 <= delay < 1e9:
        raise ScenarioError(f"{where}.delay_ms", "must be a number >= 0.")
    error = data.get("error")
    reply_error = None
    if error is not None:
        if not isinstance(error, dict) or not isinstance(error.get("message", ""), str):
            raise ScenarioError(f"{where}.error", "must be {code, message}.")
        reply_error = ReplyError(
            str(error.get("code", "server_error")),
            error.get("message", "The scenario sent an error."),
        )
    return ScriptedTurn(
        markup=_markup(data.get("markup"), f"{where}.markup"),
        transcript=data.get("transcript"),
        reply=data.get("reply"),
        audio=_audio(data.get("audio", ECHO), f"{where}.audio", base),
        delay=delay / 1000,
        error=reply_error,
        hang_up=bool(data.get("hang_up", False)),
    )


def _markup(spec: Any, where: str) -> Markup | bool | None:
    """true (seeded markup), false (none, whatever --reply-markup says) or
    {emotion: "happy", laughter: true}; absent: as --reply-markup says."""
    if spec is None or isinstance(spec, bool):
        return spec
    if not isinstance(spec, dict) or not set(spec) <= {"emotion", "laughter"}:
        raise ScenarioError(where, "'markup' is true, false or {emotion, laughter}.")
    emotion, laughter = spec.get("emotion"), spec.get("laughter", False)
    if emotion is not None and (
        not isinstance(emotion, str) or not emotion.isascii() or not emotion.isalpha()
    ):
        raise ScenarioError(where + ".emotion", "must be a word, e.g. 'happy'.")
    if not isinstance(laughter, bool):
        raise ScenarioError(where + ".laughter", "must be true or false.")
    return Markup(emotion, laughter)


def _audio(spec: Any, where: str, base: Path | None) -> tuple[bytes, ...] | str:
    if spec in (ECHO, NONE):
        return spec
    if spec is None:
        return NONE
    if not isinstance(spec, dict) or len(spec) != 1:
        raise ScenarioError(
            where, "'audio' is 'echo', 'none', {wav}, {wav_base64}, {tone} or {silence}."
        )
    ((kind, value),) = spec.items()
    # Encoding needs av and aiortc's Opus: imported when a scenario has audio of its own.
    from emulator.rtc.audio import FRAME_SAMPLES, SAMPLE_RATE, encode_opus, tone_pcm
    from emulator.rtc.media import OPUS_SILENCE

    if kind == "wav":
        if not isinstance(value, str):
            raise ScenarioError(where + ".wav", "must be a path.")
        path = Path(value)
        if not path.is_absolute():
            path = (base or Path.cwd()) / path
        return encode_opus(read_pcm(path, where + ".wav"))
    if kind == "wav_base64":
        if not isinstance(value, str):
            raise ScenarioError(where + ".wav_base64", "must be base64 text.")
        try:
            data = base64.b64decode(value, validate=True)
        except ValueError:
            raise ScenarioError(where + ".wav_base64", "is not valid base64.") from None
        return encode_opus(read_pcm(io.BytesIO(data), where + ".wav_base64"))
    if kind in ("tone", "silence"):
        value = value if isinstance(value, dict) else {}
        seconds = value.get("seconds", 1.0)
        if not isinstance(seconds, int | float) or not 0 < seconds <= MAX_AUDIO_SECONDS:
            raise ScenarioError(f"{where}.{kind}.seconds", f"must be in (0, {MAX_AUDIO_SECONDS}].")
        frames = math.ceil(seconds * SAMPLE_RATE / FRAME_SAMPLES)
        if kind == "silence":
            return (OPUS_SILENCE,) * frames
        frequency = value.get("frequency", 440.0)
        if not isinstance(frequency, int | float) or not 20 <= frequency <= 20_000:
            raise ScenarioError(f"{where}.tone.frequency", "must be 20-20000 Hz.")
        return encode_opus(tone_pcm(frequency, seconds))
    raise ScenarioError(where, f"Unknown audio kind {kind!r}.")


# --- audio, encoded once ------------------------------------------------------------------------


def read_pcm(source: Path | io.BytesIO, where: str) -> bytes:
    """The audio, at most MAX_AUDIO_SECONDS of it; a ScenarioError if unreadable."""
    import av

    from emulator.rtc import audio

    try:
        pcm = audio.read_pcm(source)
    except (OSError, av.FFmpegError) as exc:
        what = f"audio {source}" if isinstance(source, Path) else "the inline audio"
        raise ScenarioError(where, f"Cannot read {what}: {exc}") from None
    return pcm[: int(MAX_AUDIO_SECONDS * audio.SAMPLE_RATE * 2)]


# --- the responder ------------------------------------------------------------------------------


class ScriptedResponder:
    """Answers turn N with the scenario's turn N; past the script, like the echo AI."""

    def __init__(self, scenario: Scenario, echo: EchoResponder) -> None:
        self.scenario = scenario
        self.name = f"scenario:{scenario.name}"
        self._echo = echo  # the session's echo responder: its words past the script

    def respond(self, turn: UserTurn) -> Reply:
        echoed = self._echo.respond(turn)
        hang_up = self.scenario.hang_up_after_turns == turn.index
        if turn.index > len(self.scenario.turns):
            return Reply(echoed.transcript, echoed.text, echoed.audio, hang_up=hang_up)
        scripted = self.scenario.turns[turn.index - 1]
        audio: tuple[bytes, ...]
        if scripted.audio == ECHO:
            audio, own = echoed.audio, False
        elif isinstance(scripted.audio, str):  # NONE
            audio, own = (), True
        else:
            audio, own = scripted.audio, True
        return Reply(
            transcript=scripted.transcript or echoed.transcript,
            text=self._text(scripted, turn),
            audio=tuple(audio),
            delay=scripted.delay,
            error=scripted.error,
            hang_up=hang_up or scripted.hang_up,
            replay_user_audio=not own,
        )

    def _text(self, scripted: ScriptedTurn, turn: UserTurn) -> str:
        text = scripted.reply if scripted.reply is not None else self._echo.reply_text(turn)
        return self._echo.decorate(text, turn, scripted.markup)


# --- which scenario a session gets -------------------------------------------------------------


@dataclass
class ScopedScenario:
    scenario: Scenario
    email: str | None = None
    test_id: str | None = None

    def applies(self, claims: dict[str, Any]) -> bool:
        email = (claims.get("email") or "").strip().lower()
        return (self.email is None or self.email == email) and (
            self.test_id is None or self.test_id == claims.get("test_id")
        )

    def to_json(self) -> dict[str, Any]:
        return {**self.scenario.summary(), "email": self.email, "test_id": self.test_id}


class ScenarioBook:
    """The --scenario file for everyone, and posted ones (the latest matching wins)."""

    def __init__(self, configured: Scenario | None = None) -> None:
        self._configured = configured
        self._posted: list[ScopedScenario] = []

    def add(self, scenario: Scenario, email: str | None = None, test_id: str | None = None) -> None:
        email = email.strip().lower() if email else None
        self._posted = [s for s in self._posted if (s.email, s.test_id) != (email, test_id)]
        self._posted.append(ScopedScenario(scenario, email, test_id))

    def clear(self) -> None:
        """Forget the posted scenarios; the --scenario file stays."""
        self._posted.clear()

    def load(self, posted: list[ScopedScenario]) -> None:
        """Replace the posted scenarios with the shared state's."""
        self._posted = list(posted)

    def for_claims(self, claims: dict[str, Any]) -> Scenario | None:
        for scoped in reversed(self._posted):
            if scoped.applies(claims):
                return scoped.scenario
        return self._configured

    def to_json(self) -> dict[str, Any]:
        configured = self._configured.summary() if self._configured else None
        return {"configured": configured, "posted": [s.to_json() for s in self._posted]}
