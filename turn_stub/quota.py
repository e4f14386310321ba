"""How many allocations a server holds: in total, per user and per API key (RFC 8656 486).

Per user alone is not enough: anyone holding an API key can mint tokens for as many users as
they like, so tokens for 20 users could take every allocation the server has. A credential
that names its API key (credentials.py) also counts against that key's cap.
"""

from __future__ import annotations

from collections import Counter


class Quota:
    def __init__(self, total: int, per_user: int, per_key: int) -> None:
        self.total = total
        self.per_user = per_user
        self.per_key = per_key
        self._users: Counter[str] = Counter()
        self._keys: Counter[str] = Counter()

    def refusal(self, held: int, user: str, key_id: str | None) -> str | None:
        """Why one more allocation is refused (`held`: the server's count now), or None."""
        if held >= self.total:
            return f"all {self.total} allocations are in use"
        if self._users[user] >= self.per_user:
            return f"user {user} holds {self.per_user} allocations"
        if key_id is not None and self._keys[key_id] >= self.per_key:
            return f"API key {key_id} holds {self.per_key} allocations"
        return None

    def add(self, user: str, key_id: str | None) -> None:
        self._users[user] += 1
        if key_id is not None:
            self._keys[key_id] += 1

    def remove(self, user: str, key_id: str | None) -> None:
        _decrement(self._users, user)
        if key_id is not None:
            _decrement(self._keys, key_id)

    def held_by_key(self, key_id: str) -> int:
        return self._keys[key_id]


def _decrement(counter: Counter[str], name: str) -> None:
    if counter[name] > 1:
        counter[name] -= 1
    else:
        del counter[name]
