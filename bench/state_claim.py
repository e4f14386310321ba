"""What a claim through Redis adds to /calls: the same requests against two emulators started
side by side in one run, one with --state memory: (the reference) and one with --state redis://
(a redis-server started here on a free loopback port).

    python bench/state_claim.py                 # 300 calls each, ~1 min
    python bench/state_claim.py --calls 500

Three figures per backend, p50 / p99 in ms, client side over loopback, one request at a time
(so the figure is the latency, not the queueing):
- the claim step alone, in-process through the SharedState Protocol (SET NX PX vs a dict);
- /calls answered (the claim and the session's SDP answer; aiortc's work dominates);
- /calls refused as spent (verify, read-through, the spent check: no aiortc work at all).
The goal (issue 14): Redis adds at most 1 ms at p99 to /calls.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from emulator.config import DEV_API_KEY  # noqa: E402
from emulator.identity.clock import Clock  # noqa: E402
from emulator.state.backends import open_state  # noqa: E402
from emulator.testing.process import start_emulator  # noqa: E402
from tests.kit.offers import offer  # noqa: E402
from tests.kit.redis import RedisServer  # noqa: E402

BODY = {"offer": offer("chromium-sdk-layout")}


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return f"p50 {statistics.median(ordered):6.2f}  p99 {p99:6.2f}"


async def claim_step(url: str, n: int) -> list[float]:
    state = open_state(url, Clock())
    await state.start()
    samples = []
    exp = time.time() + 600
    for i in range(n):
        started = time.perf_counter()
        await state.claim(f"bench-{time.time_ns()}-{i}", exp)
        samples.append((time.perf_counter() - started) * 1000)
    await state.close()
    return samples


async def calls(http: aiohttp.ClientSession, base: str, n: int) -> tuple[list[float], list[float]]:
    answered, spent = [], []
    for _ in range(n):
        async with http.post(
            f"{base}/v1/realtime/client-secrets", headers={"Authorization": f"Bearer {DEV_API_KEY}"}
        ) as resp:
            token = (await resp.json())["ephemeral_token"]
        headers = {"Authorization": f"Bearer {token}"}
        for sink, expected in ((answered, 200), (spent, 401)):
            started = time.perf_counter()
            async with http.post(f"{base}/v1/realtime/calls", json=BODY, headers=headers) as resp:
                await resp.read()
                assert resp.status == expected, resp.status
            sink.append((time.perf_counter() - started) * 1000)
    return answered, spent


async def main(args: argparse.Namespace) -> None:
    with RedisServer.start() as redis:
        backends = {"memory": "memory:", "redis": redis.url}
        common = ("--log-level", "warning", "--max-sessions", "100000", "--ice-timeout", "2")
        emulators = {
            name: start_emulator("--state", url, *common) for name, url in backends.items()
        }
        try:
            results: dict[str, dict[str, list[float]]] = {
                name: {"claim": [], "answered": [], "spent": []} for name in backends
            }
            async with aiohttp.ClientSession() as http:
                # Warm both (the first /calls waits for aiortc's import).
                for emulator in emulators.values():
                    await calls(http, emulator.base_url, 3)
                # Interleaved rounds, so machine noise falls on both alike.
                rounds = 10
                for _ in range(rounds):
                    for name, emulator in emulators.items():
                        step = await claim_step(backends[name], args.calls // rounds)
                        answered, spent = await calls(http, emulator.base_url, args.calls // rounds)
                        results[name]["claim"] += step
                        results[name]["answered"] += answered
                        results[name]["spent"] += spent
        finally:
            for emulator in emulators.values():
                emulator.kill()
    print(f"state_claim: {args.calls} each, one at a time, ms (client side, loopback)")
    for what in ("claim", "answered", "spent"):
        label = {"claim": "claim step", "answered": "/calls 200", "spent": "/calls 401 spent"}
        memory, shared = results["memory"][what], results["redis"][what]
        print(f"  {label[what]:17} memory: {percentiles(memory)}   redis: {percentiles(shared)}")
    for what in ("answered", "spent"):
        m, r = sorted(results["memory"][what]), sorted(results["redis"][what])
        i = min(len(m) - 1, int(len(m) * 0.99))
        print(f"  redis adds at p99 to /calls ({what}): {r[i] - m[i]:+.2f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=300)
    asyncio.run(main(parser.parse_args()))
