"""The emulator as a real process, as CI and users run it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 20


@dataclass
class EmulatorProcess:
    proc: subprocess.Popen
    startup_line: str
    base_url: str
    output: list[str] = field(default_factory=list)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)


def start_emulator(*args: str, env: dict[str, str] | None = None) -> EmulatorProcess:
    """Start `python -m emulator ARGS` and return once it has printed its startup line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    output: list[str] = []
    started = threading.Event()

    def pump() -> None:  # keeps the pipe drained so the process never blocks on its log
        for line in proc.stdout:
            output.append(line)
            if line.startswith("orga-emulator ") and " listening on " in line:
                started.set()
        started.set()

    threading.Thread(target=pump, daemon=True).start()
    if not started.wait(STARTUP_TIMEOUT) or proc.poll() is not None:
        proc.kill()
        raise RuntimeError("emulator did not start:\n" + "".join(output))
    line = next(x for x in output if x.startswith("orga-emulator ") and " listening on " in x)
    base_url = line.split(" listening on ")[1].split()[0]
    return EmulatorProcess(proc, line, base_url, output)
