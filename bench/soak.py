"""Soak: N sessions one after another, a few at a time, against one emulator process; does
anything grow?

The emulator runs as a subprocess (`python -m emulator --no-turn`, as the other benches start
it). Each session is what an app does: client-secrets, ice-config, /calls with a real aiortc
peer (emulator.testing.client.OrgaClient), a session.update and a typed message on the data
channel, a short tone spoken into the microphone and the reply it gets, then hang up.

Every `--every` sessions the run stops starting new ones until the ones under way have ended
and the emulator has no live session, then reads the emulator's state: open fds, asyncio tasks
and RSS (GET /_emulator/status, cross-checked in /proc/<pid>), the ended sessions it keeps, and
the end reasons from its log. Comparing quiet moments means nothing in flight is mistaken for a
leak. At the end it says whether fds, tasks and RSS at the last checkpoint are within 5 % of
those at session 100 (after which every bounded journal and record list is in its steady state
or close to it).

    python bench/soak.py                            # 1000 sessions, 6 at a time
    python bench/soak.py --sessions 200 --concurrency 4 --minutes 5

`--minutes` spreads the session starts over that many minutes (0: as fast as they finish).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from emulator.config import DEV_API_KEY
from emulator.rtc.audio import tone_pcm
from emulator.testing.client import OrgaClient
from emulator.testing.process import EmulatorProcess, start_emulator

ROOT = Path(__file__).resolve().parent.parent
END_REASON = re.compile(r"session ended conversation_id=\S+ reason=(\S+)")
REFERENCE_AT = 100
TOLERANCE = 0.05
STEP_TIMEOUT = 30.0  # any one step of a session; a session that exceeds it counts as failed
TONE = tone_pcm(330, seconds=0.4)


@dataclass
class Checkpoint:
    sessions: int
    elapsed: float
    fds: int
    tasks: int
    rss: int
    ended_kept: int
    ended_bytes: int
    reasons: dict[str, int]
    failures: int

    def line(self) -> str:
        reasons = " ".join(f"{k}={v}" for k, v in sorted(self.reasons.items())) or "-"
        return (
            f"{self.sessions:6d} sessions {self.elapsed:7.1f}s  fds {self.fds:4d}  "
            f"tasks {self.tasks:4d}  rss {self.rss / 2**20:7.1f} MiB  "
            f"kept {self.ended_kept:3d} ({self.ended_bytes / 1024:6.0f} KiB)  "
            f"failed {self.failures}  end reasons: {reasons}"
        )


@dataclass
class Soak:
    emulator: EmulatorProcess
    http: aiohttp.ClientSession
    started: int = 0
    done: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        return self.emulator.base_url

    async def one_session(self, index: int) -> None:
        email = f"soak{index % 50}@example.com"
        client = OrgaClient(self.base_url, DEV_API_KEY, email, http=self.http)
        client.prepare(ice_servers=[])  # --no-turn: host candidates on loopback
        try:
            async with asyncio.timeout(STEP_TIMEOUT):
                await client.connect()  # client-secrets, ice-config, /calls
                await client.event("conversation.created")
                client.update_session(instructions=f"Soak session {index}.", voice="Victoria")
                await client.event("session.updated")
                client.send_text(f"hello {index}")
                await client.event("response.output_item.done")
                client.say(TONE)
                await client.event("response.output_item.done", index=1)
        except Exception as exc:  # counted and reported; the soak goes on
            self.failures.append(f"session {index}: {type(exc).__name__}: {exc}")
        finally:
            await client.hangup()
            self.done += 1

    async def status(self) -> dict[str, Any]:
        async with self.http.get(self.base_url + "/_emulator/status") as resp:
            resp.raise_for_status()
            return await resp.json()

    async def quiet(self, timeout: float = 30.0) -> dict[str, Any]:
        """The emulator's state once no session is live and its task count has settled."""
        deadline = time.monotonic() + timeout
        state = await self.status()
        previous = None
        while time.monotonic() < deadline:
            if state["sessions"]["live"] == 0 and previous is not None:
                if state["tasks"] == previous["tasks"] and state["fds"] == previous["fds"]:
                    return state
            previous = state
            await asyncio.sleep(0.5)
            state = await self.status()
        return state

    def end_reasons(self) -> dict[str, int]:
        return dict(collections.Counter(END_REASON.findall(self.emulator.text())))

    async def checkpoint(self, started_at: float) -> Checkpoint:
        state = await self.quiet()
        pid = self.emulator.pid
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        if abs(fds - state["fds"]) > 1:  # the status request's own socket may come and go
            print(f"  note: /proc says {fds} fds, /_emulator/status {state['fds']}")
        return Checkpoint(
            sessions=self.done,
            elapsed=time.monotonic() - started_at,
            fds=state["fds"],
            tasks=state["tasks"],
            rss=_rss(pid),
            ended_kept=state["sessions"]["ended_kept"],
            ended_bytes=state["sessions"]["ended_bytes"],
            reasons=self.end_reasons(),
            failures=len(self.failures),
        )


def _rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


async def soak(args: argparse.Namespace, emulator: EmulatorProcess) -> list[Checkpoint]:
    checkpoints: list[Checkpoint] = []
    async with aiohttp.ClientSession() as http:
        run = Soak(emulator, http)
        started_at = time.monotonic()
        spacing = args.minutes * 60 / args.sessions if args.minutes else 0.0
        marks = sorted({REFERENCE_AT, *range(args.every, args.sessions + 1, args.every)})
        marks = [m for m in marks if m <= args.sessions] or [args.sessions]
        if marks[-1] != args.sessions:
            marks.append(args.sessions)
        gate = asyncio.Semaphore(args.concurrency)
        index = 0
        print(
            f"emulator pid {emulator.pid}: {args.sessions} sessions, {args.concurrency} at a time"
        )
        for mark in marks:
            batch: list[asyncio.Task[None]] = []
            while index < mark:
                await gate.acquire()
                if spacing:
                    await asyncio.sleep(max(0.0, started_at + index * spacing - time.monotonic()))
                task = asyncio.ensure_future(run.one_session(index))
                task.add_done_callback(lambda _: gate.release())
                batch.append(task)
                index += 1
            await asyncio.gather(*batch)
            gc.collect()  # the client's own garbage, so the bench process stays small
            point = await run.checkpoint(started_at)
            checkpoints.append(point)
            print(point.line(), flush=True)
        for failure in run.failures[:10]:
            print("  failed:", failure)
    return checkpoints


def verdict(checkpoints: list[Checkpoint]) -> bool:
    reference = next((c for c in checkpoints if c.sessions == REFERENCE_AT), None)
    last = checkpoints[-1]
    if reference is None or reference is last:
        print(f"no comparison: the run needs more than {REFERENCE_AT} sessions")
        return True
    flat = True
    for name in ("fds", "tasks", "rss"):
        before, after = getattr(reference, name), getattr(last, name)
        change = (after - before) / before if before else 0.0
        ok = abs(change) <= TOLERANCE
        flat &= ok
        shown = (
            f"{before / 2**20:.1f} -> {after / 2**20:.1f} MiB"
            if name == "rss"
            else (f"{before} -> {after}")
        )
        print(
            f"{name:5s} session {REFERENCE_AT} -> {last.sessions}: {shown} "
            f"({change:+.1%}) {'within' if ok else 'NOT within'} {TOLERANCE:.0%}"
        )
    return flat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--minutes", type=float, default=0.0, help="spread the starts (0: no)")
    parser.add_argument("--every", type=int, default=100, help="sessions between checkpoints")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        emulator = start_emulator(
            "--no-turn",
            "--log-level",
            "info",
            "--max-sessions",
            str(args.concurrency + 10),
            cwd=ROOT,
            log_file=Path(tmp) / "emulator.log",
            timeout=60,
        )
        try:
            checkpoints = asyncio.run(soak(args, emulator))
        finally:
            code = emulator.stop()
        print(f"emulator exit status {code}")
    sys.exit(0 if verdict(checkpoints) and code == 0 else 1)


if __name__ == "__main__":
    main()
