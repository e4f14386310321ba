"""A/B of two checkouts' CPU per request, served side by side: the noise-robust comparison.

    python bench/http_ab.py ../before                 # this checkout (B) against ../before (A)
    python bench/http_ab.py ../before --rounds 8 --duration 3 --endpoint client-secrets

Both emulators run at once, pinned to the same server core, each loaded by its own load
process (half the connections each) on the load core; each one's CPU per request is its own
process tree's CPU over its own requests. Run one after the other, two measurements of the
same code differ by up to ±15 % on a shared machine whose speed drifts; side by side, both
see the same drift, and the ratio B/A of each round moves by a few per cent. Sharing the core
costs each some cache, so the absolute figures are higher than bench/http_load.py's: read
the ratio. The other checkout runs with this one's interpreter (a git worktree of an older
commit, say: `git worktree add ../before HEAD~3`).
"""

from __future__ import annotations

import argparse
import shlex
import statistics
import sys
from pathlib import Path

from http_load import ROOT, cores, pinned_to, requests_for, run_load, wait_rtc_loaded

sys.path.insert(0, str(ROOT))

from emulator.testing.process import EmulatorProcess, start_emulator  # noqa: E402


def start(tree: Path, server_cores: str) -> EmulatorProcess:
    return start_emulator(
        "--turn-port", "0", cwd=tree, preexec_fn=pinned_to(cores(server_cores)), timeout=30
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("other", type=Path, help="the other checkout (A)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds (default 8)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per round (3)")
    parser.add_argument("--connections", type=int, default=64, help="in all (default 64)")
    parser.add_argument("--endpoint", default="client-secrets", choices=["client-secrets"])
    parser.add_argument("--server-cores", default="1", help="for both emulators (default 1)")
    parser.add_argument("--load-cores", default="0", help="for the load (default 0)")
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "emulator" / "__main__.py").is_file():
        parser.error(f"{other} is not a checkout of orga-emulator")
    print("command: python " + shlex.join(["bench/http_ab.py", *sys.argv[1:]]))
    print(f"A: {other}\nB: {ROOT}")
    a, b = start(other, args.server_cores), start(ROOT, args.server_cores)
    try:
        for emulator in (a, b):
            wait_rtc_loaded(emulator.base_url)
        ratios = []
        for round_ in range(1, args.rounds + 1):
            result = run_load(
                args, [a.port, b.port], requests_for("-")[args.endpoint], [a.proc.pid, b.proc.pid]
            )
            cpu_a, cpu_b = result["cpu_us_per_request_each"]
            ratios.append(cpu_b / cpu_a)
            print(
                f"round {round_}: A {cpu_a:6.1f} us/req  B {cpu_b:6.1f} us/req  "
                f"B/A {cpu_b / cpu_a:.3f}",
                flush=True,
            )
        print(
            f"B/A, CPU per {args.endpoint} request: median {statistics.median(ratios):.3f} "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f}, {len(ratios)} rounds)"
        )
    finally:
        for emulator in (a, b):
            emulator.proc.terminate()
            emulator.proc.wait(10)


if __name__ == "__main__":
    main()
