"""The test suite, a package: `from tests.kit... import ...` from the repository root.

- `kit/`: the suite's own helpers (paths, offers, tools, the in-process emulator); the client,
  the process launcher and the pytest plugin it builds on are `emulator.testing`'s;
- `unit/`: pure logic, no socket;
- `api/`: the HTTP contract (client-secrets, ice-config, calls, errors, the demo's routes);
- `rtc/`: WebRTC calls with an SDK-like aiortc client: offers, events, echo, speech, lifecycle;
- `control/`: the control plane at /_emulator (faults, scenarios, inspection, the clock);
- `turn/`: turn_stub, against raw STUN/TURN, aioice, aiortc and coturn's clients;
- `e2e/`: real processes and real clients: browsers, the SDKs, the CLI, TLS, relayed calls,
  docker-compose's commands, the pytest plugin as a user's suite sees it.

Tests marked `slow` (browsers, processes, multi-second media) are left out by `-m "not slow"`.
"""
