"""The voice catalogue: every voice name the service accepts, as data, in one place.

CURRENT is `ORGAAI_VOICES` of @orga-ai/core 1.1.x (`src/types/OrgaVoices.ts`), in its order and
exact Unicode ("Sofía", "Chloé" and "Chloe" are different voices). LEGACY holds the names the
published 1.0.x SDKs still send by default; the service keeps accepting them. Validation, the
error message and the demo page's list all read from here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Voice:
    name: str
    description: str
    gender: str
    language: str
    legacy: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


CURRENT: tuple[Voice, ...] = (
    Voice("Sofía", "Soft Calm Spanish Woman", "feminine", "Español"),
    Voice("Victoria", "Reassuring Agent", "feminine", "English"),
    Voice("Ethan", "Modern Narrator", "masculine", "English"),
    Voice("Juan", "Formal Speaker", "masculine", "Español"),
    Voice("Chloe", "Lively Narrator", "feminine", "English"),
    Voice("Marta", "Relaxed Woman", "feminine", "Español"),
    Voice("Harold", "Caring Dad", "masculine", "English"),
    Voice("Alex", "Modern Assistant", "masculine", "English"),
    Voice("Julien", "Everyday Speaker", "masculine", "Français"),
    Voice("Emilio", "Digital Voice", "masculine", "Español"),
    Voice("Bruno", "Narration Expert", "masculine", "Português"),
    Voice("Mariana", "Support Guide", "feminine", "Português"),
    Voice("Carolina", "Public Speaker", "feminine", "Português"),
    Voice("Hannah", "Mindful Woman", "feminine", "English"),
    Voice("Valerie", "Commander", "feminine", "English"),
    Voice("Camille", "Calm French Woman", "feminine", "Français"),
    Voice("Clara", "Narrator", "feminine", "Español"),
    Voice("Max", "Sportsman", "masculine", "English"),
    Voice("Chloé", "Helpful French Lady", "feminine", "Français"),
    Voice("Álvaro", "Confident Young Professional", "masculine", "Español"),
    Voice("Giada", "Casual Friend", "feminine", "Italiano"),
    Voice("Lucía", "Teacher", "feminine", "Español"),
    Voice("Joana", "Marketer", "feminine", "Português"),
    Voice("Aurélie", "French Narrator Lady", "feminine", "Français"),
    Voice("Ignacio", "Clear Storyteller", "masculine", "Español"),
    Voice("Antoine", "French Narrator Man", "masculine", "Français"),
    Voice("Mathieu", "Friendly French Man", "masculine", "Français"),
    Voice("André", "Supporter", "masculine", "Português"),
    Voice("Natalia", "Clear Presenter Woman", "feminine", "Español"),
    Voice("Ricardo", "News Caster", "masculine", "Español"),
    Voice("Adrian", "Voiceover Man", "masculine", "English"),
    Voice("Rafael", "Casual Talker", "masculine", "Português"),
    Voice("Gustavo", "Anchorperson", "masculine", "Português"),
    Voice("Marco", "Empath", "masculine", "Italiano"),
    Voice("Alessandro", "Gentle Narrator", "masculine", "Italiano"),
    Voice("Matteo", "Everyday Friend", "masculine", "Italiano"),
    Voice("Davide", "Friendly Conversationalist", "masculine", "Italiano"),
    Voice("Valentina", "Elegant Partner", "feminine", "Italiano"),
    Voice("Serena", "Melodic Guide", "feminine", "Italiano"),
    Voice("Roberto", "Support Leader", "masculine", "Italiano"),
    Voice("Emma", "Digital Guide", "feminine", "English"),
    Voice("Bernard", "Monsieur Noir", "masculine", "Français"),
    Voice("Élise", "Bright Belle", "feminine", "Français"),
    Voice("Nadine", "Firm French Woman", "feminine", "Français"),
    Voice("Laurent", "Command Coach", "masculine", "Français"),
    Voice("Teresa", "Doting Mother", "feminine", "Español"),
    Voice("Helena", "Confident Woman", "feminine", "Português"),
    Voice("Lorenzo", "Retro Man", "masculine", "Italiano"),
    Voice("Henrique", "Promotion Lead", "masculine", "Português"),
    Voice("Paola", "Teacherly Voice", "feminine", "Italiano"),
)

LEGACY_NAMES = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
)
LEGACY: tuple[Voice, ...] = tuple(
    Voice(name, "Voice name of the 1.0.x SDKs", "unspecified", "English", legacy=True)
    for name in LEGACY_NAMES
)

CATALOGUE: tuple[Voice, ...] = CURRENT + LEGACY
NAMES: frozenset[str] = frozenset(voice.name for voice in CATALOGUE)
# What @orga-ai/core 1.1.1 sends when the app sets no voice (DEFAULT_ORGAAI_VOICE).
DEFAULT = "Sofía"


def is_voice(name: object) -> bool:
    """Exact match: the service compares the Unicode string as sent (no case or accent folding)."""
    return isinstance(name, str) and name in NAMES


def accepted_names() -> str:
    """The names, for an error message: current ones first, then the 1.0.x ones."""
    return ", ".join(voice.name for voice in CATALOGUE)
