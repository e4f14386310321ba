"""The emulator as a real process (`python -m emulator`), as CI and users run it.

    emulator = start_emulator("--turn-port", "0")
    ... emulator.base_url ...
    assert emulator.stop() == 0

`start_emulator` returns once the process has printed its startup line (it listens by then);
everything it prints is kept in `output`, read by a thread so the process never blocks on its
log, or written to `log_file` (cheaper for the emulator under load: the benchmarks' choice).
Used by the test suite and the benchmarks alike.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn
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
    log_file: Path | None = None

    def text(self) -> str:
        """Everything it has printed so far."""
        if self.log_file is not None:
            return self.log_file.read_text()
        return "".join(self.output)

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
    log_file: str | Path | None = None,
    prefix: Sequence[str] = (),
) -> EmulatorProcess:
    """Start `python -m emulator --port 0 ARGS` with `env` added to the environment; return
    once it has printed its startup line. RuntimeError, with its output, if it does not.
    `prefix` runs it under another program that execs it in place (valgrind, say)."""
    log = Path(log_file) if log_file is not None else None
    sink = log.open("w") if log is not None else subprocess.PIPE
    try:
        proc = subprocess.Popen(
            [*prefix, *emulator_argv(*args)],
            cwd=cwd,
            env={**os.environ, **(env or {})},
            stdout=sink,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=preexec_fn,
        )
    finally:
        if log is not None:
            sink.close()  # type: ignore[union-attr]  # the child has its own descriptor
    if log is not None:
        line = _wait_in_file(proc, log, timeout)
        return EmulatorProcess(proc, line, _base_url(line), log_file=log)
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
    started.wait(timeout)
    # The log can end (the process exited) before the process is reaped: no startup line is
    # a failure whatever poll() says yet.
    startup = next((x for x in output if is_startup_line(x)), None)
    if startup is None or proc.poll() is not None:
        _fail(proc, "".join(output))
    return EmulatorProcess(proc, startup, _base_url(startup), output)


def _wait_in_file(proc: subprocess.Popen[str], log: Path, timeout: float) -> str:
    """The startup line, once the process has written it to `log` (checked every 20 ms)."""
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        with log.open() as written:
            for line in written:
                if is_startup_line(line):
                    return line
        time.sleep(0.02)
    _fail(proc, log.read_text())


def _fail(proc: subprocess.Popen[str], output: str) -> NoReturn:
    proc.kill()
    proc.wait(10)
    raise RuntimeError("the emulator did not start:\n" + output)


def _base_url(startup_line: str) -> str:
    return startup_line.split(" listening on ")[1].split()[0]
