"""What the AI says: one Responder per session turns each user turn into a Reply.

The echo responder is deterministic: its words are faker sentences seeded from the conversation
id and the turn index, so the same session replays identically. Scripted scenarios (a later
issue) plug in here by implementing Responder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from faker import Faker

from emulator.turns import Utterance


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
    """Seeded faker sentences. One per registry: building a Faker takes ~0.1 s."""

    def __init__(self, locale: str = "en_US") -> None:
        self._faker = Faker(locale)

    def sentences(self, seed: str, count: int) -> str:
        self._faker.seed_instance(seed)
        return " ".join(self._faker.sentence() for _ in range(count))


class EchoResponder:
    """Replays what the user said; the words are made up, the same for the same session."""

    name = "echo"

    def __init__(self, conversation_id: str, sentences: SentenceSource) -> None:
        self.conversation_id = conversation_id
        self._sentences = sentences

    def respond(self, turn: UserTurn) -> Reply:
        if turn.text is not None:
            return Reply(transcript=turn.text, text=turn.text)
        seed = f"{self.conversation_id}:{turn.index}"
        audio = tuple(turn.utterance.packets) if turn.utterance else ()
        return Reply(
            transcript=self._sentences.sentences(seed + ":user", 1),
            text=self._sentences.sentences(seed + ":assistant", 2),
            audio=audio,
        )
