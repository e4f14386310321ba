"""Deterministic fake users, API keys and conversation text (faker, seeded).

The same seed gives the same data on every machine, so tests and `--users` files built from it
are reproducible:

    python -m emulator.testing.fakedata users 20 --seed 7 > users.txt
    orga-emulator --users users.txt
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass

from faker import Faker

from emulator.http.auth import API_KEY_PREFIX


@dataclass(frozen=True)
class FakeUser:
    name: str
    email: str


class FakeData:
    def __init__(self, seed: int = 0, locale: str = "en_US") -> None:
        self._faker = Faker(locale)
        self._faker.seed_instance(seed)

    def user(self) -> FakeUser:
        # safe_email() only uses example.{com,net,org}: nothing real is ever addressed.
        return FakeUser(self._faker.name(), self._faker.unique.safe_email())

    def users(self, count: int) -> list[FakeUser]:
        return [self.user() for _ in range(count)]

    def api_key(self) -> str:
        return API_KEY_PREFIX + self._faker.hexify("^" * 32)

    def conversation(self, turns: int) -> list[tuple[str, str]]:
        """(user says, assistant answers) pairs."""
        return [(self._faker.sentence(), self._faker.paragraph(2)) for _ in range(turns)]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator.testing.fakedata", description=__doc__
    )
    parser.add_argument("kind", choices=("users", "api-keys", "conversation"))
    parser.add_argument("count", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = FakeData(args.seed)
    if args.kind == "users":
        for user in data.users(args.count):
            print(user.email)
    elif args.kind == "api-keys":
        for _ in range(args.count):
            print(data.api_key())
    else:
        for said, answered in data.conversation(args.count):
            print(f"user: {said}\nassistant: {answered}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
