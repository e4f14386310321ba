"""turn_stub: a TURN (RFC 8656, RFC 5766 clients in mind) and STUN (RFC 8489) server.

Serves UDP and TCP on one port, authenticates with TURN REST credentials
(``"<expiry>:<user>"`` / ``base64(HMAC-SHA1(secret, username))``) checked on every
request against an injectable clock, and relays UDP to peers the policy allows.

Modules, one per protocol concept: stun (the STUN/TURN message codec),
credentials (TURN REST scheme), nonce (stateless NONCE values), policy (peer
addresses), allocation (allocations, permissions, channels), message (replies and
Data indications), transport (UDP listener, TCP framing, relay sockets), server
(TurnConfig, TurnServer), cli (``orga-turn-stub``).
"""
