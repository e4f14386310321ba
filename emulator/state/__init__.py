"""Shared state: what every worker and replica of one emulator must agree on.

store.py declares it (the SharedState Protocol, the URL of --state, the 503 when it is
unreachable); memory.py keeps it in this process (the default: one process, today's behaviour);
redis.py keeps it in Redis, for several workers or replicas. The control plane and the /calls
claim talk to the Protocol; nothing here knows HTTP. docs/scale-out.md describes the key layout.
"""
