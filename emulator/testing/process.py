"""The emulator as a real process (`python -m emulator`), as CI and users run it.

    emulator = start_emulator("--turn-port", "0")
    ... emulator.base_url ...
    assert emulator.stop() == 0

`start_emulator` returns once the process has printed its startup line (it listens by then);
everything it prints is kept in `output`, read by a thread so the process never blocks on its
log. Used by the test suite and the benchmarks alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

STARTUP_TIMEOUT = 20.0


def emulator_argv(*args: str) -> list[str]:
    """`python -m emulator` on a free port (a later `--port` in `args` wins)."""
    return [sys.executable, "-m", "emulator", "--port", "0", *args]


def is_startup_line(line: str) -> bool:
    return line.startswith("orga-emulator ") and " listening on " in line


@dataclass
class EmulatorProcess:
    proc: subprocess.Popen[str]
    startup_line: str
    base_url: str
    output: list[str] = field(default_factory=list)

    @property
    def port(self) -> int:
        port = urlsplit(self.base_url).port
        assert port is not None, self.base_url
        return port

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> int:
        """Send `sig` (unless it has exited) and return its exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout)

    def kill(self) -> None:
        """Kill it if it still runs (a test's cleanup)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def __enter__(self) -> EmulatorProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.kill()


def start_emulator(
    *args: str,
    env: dict[str, str] | None = None,
    cwd: str | Path | None = None,
    preexec_fn: Callable[[], None] | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> EmulatorProcess:
    """Start `python -m emulator --port 0 ARGS` with `env` added to the environment; return
    once it has printed its startup line. RuntimeError, with its output, if it does not."""
    proc = subprocess.Popen(
        emulator_argv(*args),
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=preexec_fn,
    )
    output: list[str] = []
    started = threading.Event()

    def pump() -> None:  # keeps the pipe drained so the process never blocks on its log
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line)
            if is_startup_line(line):
                started.set()
        started.set()

    threading.Thread(target=pump, daemon=True).start()
    if not started.wait(timeout) or proc.poll() is not None:
        proc.kill()
        proc.wait(10)
        raise RuntimeError("the emulator did not start:\n" + "".join(output))
    line = next(x for x in output if is_startup_line(x))
    base_url = line.split(" listening on ")[1].split()[0]
    return EmulatorProcess(proc, line, base_url, output)
