"""What the AI says: one Responder per session turns each user turn into a Reply.

The echo responder is deterministic: its words are faker sentences seeded from the conversation
id and the turn index, so the same session replays identically. Scripted scenarios (a later
issue) plug in here by implementing Responder.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from emulator.ai.vad import Utterance

if TYPE_CHECKING:
    from faker import Faker


@dataclass(frozen=True)
class UserTurn:
    """What the user did: spoke (an utterance) or typed (text)."""

    index: int
    utterance: Utterance | None = None
    text: str | None = None


@dataclass(frozen=True)
class ReplyError:
    """An `error` event sent instead of the reply (scripted scenarios)."""

    code: str
    message: str


@dataclass(frozen=True)
class Reply:
    transcript: str  # the user's turn as text
    text: str  # the assistant's reply as text
    audio: tuple[bytes, ...] = ()  # Opus packets to play, if any
    # Set by scripted responders; the echo responder leaves them alone.
    delay: float = 0.0  # seconds between the end of the user's turn and the reply
    error: ReplyError | None = None
    hang_up: bool = False  # the server hangs up once the reply is out
    replay_user_audio: bool = True  # False: `audio` is the AI's own, play it in any echo mode


class Responder(Protocol):
    name: str

    def respond(self, turn: UserTurn) -> Reply: ...


class SentenceSource:
    """Seeded faker sentences. One per registry, made on first use: importing faker and
    building a Faker take ~0.15 s that a starting emulator need not wait for."""

    def __init__(self, locale: str = "en_US") -> None:
        self._locale = locale
        self._faker: Faker | None = None

    def sentences(self, seed: str, count: int) -> str:
        if self._faker is None:
            from faker import Faker

            self._faker = Faker(self._locale)
        self._faker.seed_instance(seed)
        return " ".join(self._faker.sentence() for _ in range(count))


# Emotions the real service tags replies with (`<emotion value="..."/>`).
EMOTIONS = ("content", "happy", "curious", "calm", "surprised", "sympathetic")


@dataclass(frozen=True)
class Markup:
    """The real service's inline markup in reply text: an emotion tag, and laughter."""

    emotion: str | None = None
    laughter: bool = False

    @classmethod
    def seeded(cls, seed: str) -> Markup:
        """The same markup for the same seed (conversation and turn): runs replay identically."""
        digest = zlib.crc32(seed.encode())
        return cls(EMOTIONS[digest % len(EMOTIONS)], laughter=digest % 3 == 0)

    def apply(self, text: str) -> str:
        """`<emotion value="happy"/>First sentence. [laughter] The rest.`: @orga-ai/core >= 1.0.2
        shows that as "First sentence. 😂 The rest.", older SDKs show it as it is."""
        if self.laughter:
            first, dot, rest = text.partition(". ")
            text = f"{first}. [laughter] {rest}" if dot else f"{text} [laughter]"
        if self.emotion is not None:
            text = f'<emotion value="{self.emotion}"/>{text}'
        return text


class EchoResponder:
    """Replays what the user said; the words are made up, the same for the same session."""

    name = "echo"

    def __init__(
        self, conversation_id: str, sentences: SentenceSource, *, markup: bool = False
    ) -> None:
        self.conversation_id = conversation_id
        self.markup = markup
        self._sentences = sentences

    def respond(self, turn: UserTurn) -> Reply:
        text = self.decorate(self.reply_text(turn), turn)
        if turn.text is not None:
            return Reply(transcript=turn.text, text=text)
        audio = tuple(turn.utterance.packets) if turn.utterance else ()
        transcript = self._sentences.sentences(self._seed(turn) + ":user", 1)
        return Reply(transcript=transcript, text=text, audio=audio)

    def reply_text(self, turn: UserTurn) -> str:
        """The reply's words, without markup: typed text comes back as it is."""
        if turn.text is not None:
            return turn.text
        return self._sentences.sentences(self._seed(turn) + ":assistant", 2)

    def decorate(self, text: str, turn: UserTurn, markup: Markup | bool | None = None) -> str:
        """`text` with markup: `markup` if given (True: seeded), else as --reply-markup says."""
        if markup is None:
            markup = self.markup
        if markup is True:
            markup = Markup.seeded(self._seed(turn))
        return markup.apply(text) if isinstance(markup, Markup) else text

    def _seed(self, turn: UserTurn) -> str:
        return f"{self.conversation_id}:{turn.index}"
