from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.kit.redis import RedisServer


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    with RedisServer.start() as server:
        yield server
