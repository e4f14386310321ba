"""turn_stub: a TURN (RFC 8656, RFC 5766 clients in mind) and STUN (RFC 8489) server.

Serves UDP and TCP on one port, authenticates with TURN REST credentials
(``"<expiry>:<user>"`` / ``base64(HMAC-SHA1(secret, username))``) checked on every
request against an injectable clock, and relays UDP to peers the policy allows.

Modules, one per protocol concept: stun (the STUN codec: one attribute table, Message,
parse_message, MESSAGE-INTEGRITY and FINGERPRINT), message (what the server sends: Reply, the
Data indication), credentials (TURN REST scheme), auth (long-term credentials on every
request), nonce (stateless NONCE values), policy (peer addresses), allocation (one allocation,
its permissions and channels), allocations (the table and the TURN methods), transport (UDP
listener, TCP framing, relay sockets), server (TurnConfig, TurnServer: sockets, lifetime,
dispatch), options and cli (``orga-turn-stub``).
"""
